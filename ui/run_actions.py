"""The Results page's actions on one run: display name, note, re-run, delete."""

from __future__ import annotations

import streamlit as st

from fer_core import runs
from fer_core.core import settings
from fer_core.core.errors import FerError
from fer_core.reports import wording
from fer_core.runs import actions
from fer_core.tasks.rerun import rerun
from ui import state

NOTICE_KEY = "results.action_notice"  # (kind, text) from the last action, shown once


def render_notice() -> None:
    """What the last action did, at the top of Results: after a delete there may be no run
    left to show the actions under."""
    if notice := st.session_state.pop(NOTICE_KEY, None):
        getattr(st, notice[0])(notice[1])


def render_run_actions(info: runs.RunInfo) -> None:
    """In an expander under the run picker; an error shows where its button is."""
    status = info.status
    parts = [f"**{status.display_name}**" if status.display_name else None, status.note,
             f"re-run of {status.rerun_of}" if status.rerun_of else None,
             wording.REPRODUCIBLE.get((info.record.environment or {}).get("reproducible")),
             wording.bfloat16_scores_note(info.record.environment or {}, info.metrics or {})]
    if any(parts):
        st.caption(" · ".join(filter(None, parts)))
    if settings.read_only():  # a viewer: the engine would refuse them anyway
        return
    with st.expander(f"Name, note, re-run or delete {info.run_id}"):
        key = f"results.actions.{info.run_id}"
        with st.form(f"{key}.form", border=False):
            name = st.text_input("Display name", value=status.display_name or "",
                                 max_chars=actions.MAX_NAME, key=f"{key}.name",
                                 help="Shown beside the run id; the folder id never changes.")
            note = st.text_area("Note", value=status.note or "", max_chars=actions.MAX_NOTE,
                                key=f"{key}.note")
            if st.form_submit_button("Save name and note"):
                _do(lambda: actions.annotate(info.path, display_name=name, note=note),
                    f"Saved the name and note of {info.run_id}.")
        left, right = st.columns(2)
        if left.button("Re-run with the same settings", key=f"{key}.rerun",
                       icon=":material/replay:",
                       help="Queue a new job with exactly this run's settings, made reproducible "
                       "(the same seed repeats it on a CPU); follow it on "
                       "Train."):
            _do(lambda: rerun(info.path, runs_root=state.runs_root(),
                              backend=state.jobs_backend()),
                f"Queued a re-run of {info.run_id}; follow it on the Train page.")
        sure = right.checkbox("I want to delete this run", key=f"{key}.sure")
        if right.button("Delete", key=f"{key}.delete", icon=":material/delete:",
                        disabled=not sure, help="Deletes the run folder for good."):
            _do(lambda: _delete(info), f"Deleted {info.run_id}: its folder is gone for good.")


def _delete(info: runs.RunInfo) -> None:
    """Delete the run and take it out of the address, which would name a run no longer there."""
    actions.delete_run(info.path)
    if info.run_id in (named := st.query_params.get_all("runs")):
        st.query_params["runs"] = [run for run in named if run != info.run_id]


def _do(action, done: str) -> None:
    """Run an action; on success rerun so every list shows the change, else show why."""
    try:
        action()
    except FerError as err:
        st.error(str(err))
        return
    st.session_state[NOTICE_KEY] = ("success", done)
    st.rerun()
