"""Results' deep links in Streamlit: restore a view from the URL once per session, keep the
URL showing the current view, and offer it under **Copy link** (``views.links`` parses)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import streamlit as st

from views import links

RESTORED_KEY = "results.link_restored"


def restore(known_runs: Iterable[str], *, runs_key: str, tab_key: str, split_key: str) -> None:
    """Set the runs, tab and split a link asks for, once per session (a link opened in a new
    tab is a new session); later reruns leave the user's choices alone."""
    if st.session_state.get(RESTORED_KEY):
        return
    st.session_state[RESTORED_KEY] = True
    view = links.parse_link(st.query_params.get_all, known_runs)
    if view.runs:
        st.session_state[runs_key] = view.runs
    if view.tab:
        st.session_state[tab_key] = view.tab
    if view.split:
        st.session_state[split_key] = view.split
    if view.unknown_runs:
        st.warning(f"The link names runs that are not in this runs folder: "
                   f"{', '.join(view.unknown_runs)}.")


def publish(runs: Sequence[str], *, tab: str | None, split: str | None,
            default_runs: Sequence[str]) -> str:
    """Keep the address bar showing the current view, and return its full URL (for Copy
    link: always complete, since the default runs change as new runs finish). The page as
    it first opens keeps a clean address, so a plain visit or bookmark stays ``/results``."""
    params = links.link_params(runs, tab=tab, split=split)
    if links.is_default_view(runs, tab=tab, split=split, default_runs=default_runs):
        st.query_params.clear()
    else:
        st.query_params.from_dict({name: [v for n, v in params if n == name]
                                   for name in dict.fromkeys(n for n, _ in params)})
    return links.link_url(st.context.url, params)


def render_copy_link(where, url: str) -> None:
    """**Copy link**: the URL of this view, with Streamlit's own copy button beside it."""
    with where.popover("Copy link", icon=":material/link:"):
        st.caption("Anyone who can open this FER Studio sees these runs, this tab and split:")
        st.code(url, language=None, wrap_lines=True)
