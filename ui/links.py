"""Links between pages that carry a run: a finished job's card and Start open Results on it."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

RESULTS_PAGE = "pages/results.py"
RUN_PARAM = "run"  # ?run=<run id> opens Results on that run


def results_link(run_id: str, label: str) -> None:
    """A link to Results showing ``run_id``.

    A page script run on its own (``AppTest.from_file`` on one page) has no ``st.navigation``
    to link through; it names the run in words instead of failing.
    """
    try:
        st.page_link(RESULTS_PAGE, label=label, icon=":material/leaderboard:",
                     query_params={RUN_PARAM: run_id})
    except StreamlitPageNotFoundError:
        st.caption(f"{run_id}'s results are on the Results page.")
