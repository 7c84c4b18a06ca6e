"""The Train page's "how long on this machine" line, above **Launch**.

The speeds come from ``fer_core.training.speed``'s cache. A missing one is measured only when
the user asks, in a separate process: measuring imports TensorFlow, which the app process must
not do before the live-video libraries (see ``fer_core.training.speed``), and takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import streamlit as st

from fer_core.core import settings
from fer_core.core.config import TrainConfig
from fer_core.core.errors import FerError
from fer_core.data import DataRef
from fer_core.training import speed

MEASURE_TIMEOUT_S = 600


@st.cache_data(max_entries=32, show_spinner=False)
def _sizes(data: str, config_json: str) -> speed.SplitSizes | None:
    """Split sizes for a config on a data set (the arrays load from the disk cache)."""
    try:
        return speed.split_sizes(TrainConfig.from_dict(json.loads(config_json)),
                                 DataRef.parse(data).load())
    except FerError:
        return None  # the data set's own error shows where it is chosen


def render_estimate(config: TrainConfig, data: DataRef) -> None:
    """The estimate on ``data`` if this machine's speed for the config is known, else a
    button that measures it."""
    keys = speed.speed_keys(config)
    if not keys:
        return
    speeds = {phase: speed.cached_speed(key) for phase, key in keys.items()}
    if all(speeds.values()):
        sizes = _sizes(str(data), json.dumps(config.to_dict(), sort_keys=True))
        if sizes is not None:
            result = speed.estimate(config, sizes, speeds)
            st.caption(f":material/timer: {speed.describe(result)}")
        return
    text, action = st.columns([4, 1], vertical_alignment="center")
    text.caption(":material/timer: How long this takes depends on the machine. **Estimate** "
                 "times a few training steps here (about 20 s, once per backbone and batch "
                 "size).")
    if action.button("Estimate", key="train.estimate",
                     help="Measure this machine's speed for this backbone and batch size."):
        with st.spinner("Timing a few training steps on this machine..."):
            error = _measure(config.replace(data=str(data)))
        if error:
            st.error(error)
        else:
            st.rerun()


def _measure(config: TrainConfig) -> str | None:
    """Run ``python -m fer_core estimate`` for the config; the error to show, if any."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config.to_dict()))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "fer_core", "estimate", "--config", str(path)],
                cwd=settings.PROJECT_ROOT, capture_output=True, text=True,
                timeout=MEASURE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return f"Measuring took over {MEASURE_TIMEOUT_S} s; try a smaller batch size."
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"Could not measure the speed: {lines[-1] if lines else 'no output'}"
    return None
