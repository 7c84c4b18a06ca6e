"""FER Studio's engine: data, training, evaluation and jobs for facial emotion recognition.

Nothing here imports Streamlit, so every step the app offers also runs from the command line
(``python -m fer_core ...``) and on a headless GPU server.
"""

__version__ = "0.1.0"
