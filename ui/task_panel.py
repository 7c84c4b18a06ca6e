"""Follow a task from the page that started it: progress and Cancel while it runs, its error,
log and Retry when it failed; the page reruns once when it ends, so its result shows.

The page finds its task again after a reload (``task_folders.latest``), so this panel needs
nothing from the session but a guard against rerunning in a loop; it polls only the task's
small status file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from fer_core import runs, tasks
from fer_core.core import settings
from fer_core.core.errors import FerError
from ui import state
from views import progress

POLL_SECONDS = 2


def submit(kind: str, make_spec: Callable[[], dict[str, Any]], *, subject: str,
           inputs: dict[str, Path] | None = None, rerun: bool = True) -> None:
    """Queue a task where the sidebar sends jobs; rerun, unless an ``on_click`` in a fragment
    (``rerun=False``), whose own rerun follows. The spec is made in here so that its refusal
    (too few images for the folds) shows by the button."""
    try:
        tasks.submit(kind, make_spec(), subject=subject, inputs=inputs,
                     runs_root=state.runs_root(), backend=state.jobs_backend())
    except FerError as err:
        (st.error if rerun else st.toast)(str(err))
        return
    if rerun:
        st.rerun()


def busy(task: Path | None) -> bool:
    """Whether the page's latest task is queued or running, so its start button waits."""
    return task is not None and tasks.refresh(task) in progress.ACTIVE_STATES


def render(task_dir: Path | None, *, key: str) -> str | None:
    """Follow ``task_dir`` (nothing when ``None``); return its state as the page run saw it."""
    if task_dir is None:
        return None
    active_key = f"{key}.task_active"
    state = tasks.refresh(task_dir)
    st.session_state[active_key] = state in progress.ACTIVE_STATES

    def live() -> None:
        now = tasks.refresh(task_dir)
        if now not in progress.ACTIVE_STATES:
            if st.session_state.get(active_key):
                st.session_state[active_key] = False
                st.rerun()  # the whole page shows the result
            _render_ended(task_dir, now, key)
            return
        fraction, text = progress.task_progress(runs.read_status(task_dir), now)
        bar, action = st.columns([6, 1], vertical_alignment="center")
        bar.progress(fraction, text=text)
        if not settings.read_only():
            action.button("Cancel", key=f"{key}.task_cancel", on_click=_act,
                          args=(tasks.cancel, task_dir))

    st.fragment(run_every=POLL_SECONDS if st.session_state[active_key] else None)(live)()
    return state


def _render_ended(task_dir: Path, state: str, key: str) -> None:
    if state == "failed":
        error = runs.read_status(task_dir).error or "the task ended without a message"
        st.error(f"It failed: {error}", icon=":material/error:")
        with st.expander("Log"):
            st.code(tasks.log_tail(task_dir, lines=40) or "(no output)", language=None)
    elif state == "cancelled":
        st.warning("It was cancelled.", icon=":material/cancel:")
    if state in ("failed", "cancelled") and not settings.read_only():
        st.button("Retry", key=f"{key}.task_retry", on_click=_act, args=(tasks.retry, task_dir),
                  help="Queue it again with the same settings.")


def _act(action, task_dir: Path) -> None:
    try:
        action(task_dir)
    except FerError as err:
        st.toast(str(err), icon=":material/error:")
