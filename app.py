"""FER Studio: explore FER data, train and compare emotion models, share the results.

    streamlit run serve.py      (or: make run; serve.py adds the rule for unknown addresses)
"""

# First, before any page can load TensorFlow: pylibsrtp (aiortc, under streamlit_webrtc, used
# by Predict's live camera) segfaults the process when imported after TensorFlow.
import streamlit_webrtc  # noqa: F401  isort: skip
import streamlit as st

from ui import links
from ui.sidebar import render_sidebar
from views.links import UNKNOWN_PAGE

st.set_page_config(page_title="FER Studio", page_icon=":material/mood:", layout="wide")

navigation = st.navigation(
    [
        st.Page("app_pages/start.py", title="Start here", icon=":material/flag:", default=True),
        st.Page("app_pages/explore.py", title="Explore", icon=":material/insights:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page(links.RESULTS_PAGE, title="Results", icon=":material/leaderboard:"),
        st.Page("app_pages/predict.py", title="Predict", icon=":material/face:"),
    ]
)
if navigation.url_path != "results":
    links.forget_seen()
render_sidebar()
if unknown := st.query_params.get(UNKNOWN_PAGE):
    st.warning(f"No such page: /{unknown}. Here is the start; the pages are on the left.")
navigation.run()
