"""Start here: what FER Studio is for and its four steps. The app opens on it, so it reads
nothing heavy (no data set, no model): only the sidebar's choices and the runs folder."""

from __future__ import annotations

import streamlit as st

from ui import state
from views import start

st.title("Start here")
st.caption("FER Studio explores a facial-emotion data set, trains Keras models on it, and "
           "shows and shares how well they do. Four steps, each a page in the sidebar:")

for step in start.steps(state.data_ref(), state.list_runs()):
    with st.container(border=True):
        st.page_link(step.page, label=step.title, icon=step.icon,
                     query_params={**step.query_params, **state.data_param()})
        st.markdown(step.text)
