"""The Train page's "how long" line, above **Launch**. Local speeds come from
``fer_core.training.speed``'s cache; a missing one, or a Ray cluster's, is timed only on request,
as an estimate job where jobs run: the web server never trains, not even a few steps."""

from __future__ import annotations

import json

import streamlit as st

from fer_core.core import settings
from fer_core.core.config import TrainConfig
from fer_core.core.errors import FerError
from fer_core.data import DataRef
from fer_core.runs import task_folders
from fer_core.tasks import estimate as estimate_task
from fer_core.training import speed
from ui import state, task_panel
from views import progress as views


@st.cache_data(max_entries=32, show_spinner=False)
def _sizes(data: str, config_json: str) -> speed.SplitSizes | None:
    """Split sizes for a config on a data set (the arrays load from the disk cache)."""
    try:
        return speed.split_sizes(TrainConfig.from_dict(json.loads(config_json)),
                                 DataRef.parse(data).load())
    except FerError:
        return None  # the data set's own error shows where it is chosen


def render_estimate(config: TrainConfig, data: DataRef) -> None:
    """The estimate on ``data`` if this machine's speed for the config is known and jobs run
    here; else the latest estimate job's answer, and a button that times it where jobs run."""
    keys = speed.speed_keys(config)
    if not keys:
        return
    config = config.replace(data=config.data or str(data))
    backend = state.jobs_backend_name()
    speeds = {phase: speed.cached_speed(key) for phase, key in keys.items()}
    if backend == "local" and all(speeds.values()):
        sizes = _sizes(str(data), json.dumps(config.to_dict(), sort_keys=True))
        if sizes is not None:
            st.caption(f":material/timer: {speed.describe(speed.estimate(config, sizes, speeds))}")
        return
    subject = estimate_task.subject(config, backend)
    task = task_folders.latest(estimate_task.KIND, subject, runs_root=state.runs_root())
    text, action = st.columns([4, 1], vertical_alignment="center")
    result = task_folders.read_result(task) if task else None
    if result and result.get("text"):
        text.caption(f":material/timer: {views.estimate_text(result)}")
    else:
        text.caption(":material/timer: How long this takes depends on the machine. "
                     "**Estimate** times a few training steps where jobs run (about 20 s, once "
                     "per backbone and batch size).")
    if action.button("Estimate", key="train.estimate",
                     disabled=task_panel.busy(task) or settings.read_only(),
                     help="Time this backbone and batch size where jobs run, as a job."):
        task_panel.submit(estimate_task.KIND, lambda: estimate_task.spec(config),
                          subject=subject)
    task_panel.render(task, key="train.estimate")
