"""FER Studio's engine: data, training, evaluation and jobs for facial emotion recognition.

Nothing here imports Streamlit, so every step the app offers also runs from the command line
(``python -m fer_core ...``) and on a headless GPU server.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) buries the job logs users
# read; warnings and errors still come through. A value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
