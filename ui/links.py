"""Results' deep links in Streamlit: restore a new view from the URL, keep the URL showing the
view, offer it under **Copy link**, and link other pages (a job's card, Start) to one run."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui import state
from views import links

RESULTS_PAGE = "app_pages/results.py"

SEEN_KEY = "results.links_seen"  # the query strings this session applied or published lately
# A click can only carry an address from the last rerun or two, so a short memory is enough
# for the race below; an address older than this, opened again, is applied like a new link.
SEEN_LIMIT = 32


def _query(*, view: bool = True) -> tuple[tuple[str, str], ...]:
    """The address's view parameters (``view``), or all the others."""
    return tuple(sorted((name, value) for name in st.query_params
                        if (name in links.PARAMS) == view
                        for value in st.query_params.get_all(name)))


def _seen() -> deque[tuple[tuple[str, str], ...]]:
    return st.session_state.setdefault(SEEN_KEY, deque(maxlen=SEEN_LIMIT))


def _remember(query: tuple[tuple[str, str], ...]) -> None:
    seen = _seen()
    if query in seen:
        seen.remove(query)  # the newest use is what keeps an address remembered
    seen.append(query)


def forget_seen() -> None:
    """Called whenever another page shows: a link followed from there (a finished job's card)
    is applied on arrival even if this session has shown that view before."""
    st.session_state.pop(SEEN_KEY, None)


MAP_KEYS = {"faces": "map.split", "colour": "map.colour", "region": "map.region"}


def map_view() -> dict[str, str]:
    """The Map tab's split, colouring and box as this session holds them."""
    return {name: str(st.session_state[key]) for name, key in MAP_KEYS.items()
            if st.session_state.get(key)}


def restore(known_runs: Iterable[str], *, runs_key: str, tab_key: str, split_key: str) -> None:
    """Apply the view of an address this session has not shown (a link opened in a new tab, a
    job's card); not of any this page published: a click sent while a run publishes carries the
    address from before it, and applying that would undo the click."""
    query = _query()
    if query in _seen():
        return
    _remember(query)
    view = links.parse_link(st.query_params.get_all, known_runs)
    for key, value in ((runs_key, view.runs), (tab_key, view.tab), (split_key, view.split),
                       *((MAP_KEYS[name], v) for name, v in view.map_view.items())):
        if value:
            st.session_state[key] = value
    if view.unknown_runs:
        st.warning(f"The link names runs that are not in this runs folder: "
                   f"{', '.join(view.unknown_runs)}.")


def publish(runs: Sequence[str], *, tab: str | None, split: str | None,
            default_runs: Sequence[str]) -> str:
    """Keep the address bar showing the view, except the view Results opens on, so a plain
    visit stays ``/results``; return the full URL for Copy link, always complete since the
    default runs change as runs finish. Other parameters (the data choice) stay in both."""
    params = links.link_params(runs, tab=tab, split=split, map_view=map_view())
    shown = not links.is_default_view(runs, tab=tab, split=split, default_runs=default_runs)
    view_names = {s for name in links.PARAMS for s in links.SPELLINGS.get(name, (name,))}
    current = {name: st.query_params.get_all(name) for name in st.query_params}
    wanted = {name: values for name, values in current.items() if name not in view_names}
    for name in links.PARAMS if shown else ():
        if values := [v for n, v in params if n == name]:
            wanted[name] = values
    if wanted != current:  # one message: each one the browser sees is a history entry
        st.query_params.from_dict(wanted)
    _remember(_query())
    return links.link_url(st.context.url, [*params, *_query(view=False)])


def render_copy_link(where, url: str) -> None:
    """**Copy link**: the URL of this view, with Streamlit's own copy button beside it."""
    with where.popover("Copy link", icon=":material/link:"):
        st.caption("Anyone who can open this FER Studio sees these runs, this tab and split:")
        st.code(url, language=None, wrap_lines=True)


def results_link(run_id: str, label: str) -> None:
    """A link to Results on ``run_id``; in words where there is no ``st.navigation`` to link
    through (a page script run on its own, as ``AppTest.from_file`` does)."""
    try:
        st.page_link(RESULTS_PAGE, label=label, icon=":material/leaderboard:",
                     query_params={**dict(links.link_params([run_id])), **state.data_param()})
    except StreamlitPageNotFoundError:
        st.caption(f"{run_id}'s results are on the Results page.")
