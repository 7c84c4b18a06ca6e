"""A seed gives the same run on a CPU: **Re-run with the same settings** of a reproducible run
repeats the weights, the curves and every prediction, in a new job process of its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fer_core import runs, tasks
from fer_core.reports.card import build_card
from fer_core.tasks.rerun import rerun
from tests.job_support import tiny

TIMEOUT = 300


@pytest.mark.slow
def test_a_rerun_with_one_seed_repeats_predictions_and_history(tmp_path: Path):
    first = tasks.launch(tiny(epochs=2, seed=7, augment=True, deterministic=True),
                         runs_root=tmp_path)
    assert tasks.wait(first, timeout=TIMEOUT) == "succeeded"
    second = rerun(first)
    assert tasks.wait(second, timeout=TIMEOUT) == "succeeded"

    assert files(first, "predictions.csv") == files(second, "predictions.csv")
    history = [runs.read_history(run).drop(columns="seconds") for run in (first, second)]
    pd.testing.assert_frame_equal(*history, check_exact=True)
    assert "reproducible" in build_card(first).to_markdown().lower()


def files(run: Path, name: str) -> bytes:
    return (run / name).read_bytes()
