"""The finished runs committed under ``tests/fixtures/runs``, which the fast tier reads instead
of training, and the guard that keeps the fast tier from training.

The slow test trains the demo recipe afresh and compares what it writes with the committed
copy, file by file and key by key: when it fails, the run folder's format has changed, and
``python -m tests.fixtures.make_runs`` regenerates the copies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fer_core import runs
from fer_core.data.demo import DEMO_NAME, demo_dataset_dir
from fer_core.data.sources import IMAGE_EXTENSIONS
from tests.fit_guard import sitecustomize as fit_guard
from tests.fixtures.make_runs import RECIPES, RUNS, committed, slim, train_run

MAX_BYTES = 5_000_000  # all committed runs together; the demo run's model is 3.7 MB of it
TINY_FIT = ("import keras, numpy as np\n"
            "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
            "model.compile(loss='mse')\n"
            "model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)\n")


# --- the committed runs --------------------------------------------------------------------------

def test_committed_runs_are_the_recipes_finished() -> None:
    assert sorted(p.name for p in RUNS.iterdir()) == sorted(r.run_id for r in RECIPES.values())
    for name, recipe in RECIPES.items():
        run_dir = committed(name)
        info = runs.read_run(run_dir)
        assert info.state == "succeeded" and info.problem is None
        config = runs.read_config(run_dir).config
        assert {key: config[key] for key in recipe.changes} == recipe.changes
        assert runs.files(run_dir).model.exists() == recipe.keep_model
        assert len(runs.read_predictions(run_dir)) == sum(
            runs.read_config(run_dir).data["sizes"][split] for split in ("val", "test"))


def test_committed_runs_trained_on_the_synthetic_demo_and_hold_no_image() -> None:
    """No FER-2013 image, nor any other, may enter the repository with a run."""
    for name in RECIPES:
        data = runs.read_config(committed(name)).data
        assert data["name"] == DEMO_NAME and data["synthetic"] is True
    assert not [p for p in RUNS.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS]


def test_committed_runs_trained_on_todays_drawing_of_the_demo() -> None:
    """The fixtures treat the session's demo images as the ones the runs trained on: true
    while the demo is drawn the same way, which its folder's name (its version) says."""
    drawn = demo_dataset_dir().name
    for name in RECIPES:
        trained_on = Path(runs.read_config(committed(name)).data["location"]).name
        assert trained_on == drawn, (
            f"{committed(name).name} trained on {trained_on}, the demo is now {drawn}: "
            "regenerate the committed runs with `python -m tests.fixtures.make_runs`.")


def test_committed_runs_stay_small() -> None:
    size = sum(p.stat().st_size for p in RUNS.rglob("*") if p.is_file())
    assert size < MAX_BYTES, (f"tests/fixtures/runs holds {size / 1e6:.1f} MB; keep it under "
                              f"{MAX_BYTES / 1e6:.0f} MB (see tests/fixtures/make_runs.py).")


def test_demo_run_fixture_points_at_this_sessions_demo_data(demo_run: Path) -> None:
    from fer_core.data import load_dataset

    data = runs.read_config(demo_run).data
    assert data["fingerprint"] == load_dataset(None).fingerprint
    assert runs.read_predictions(demo_run).equals(runs.read_predictions(committed("demo")))


def _shape(value: Any) -> Any:
    """The keys of a JSON document, nested; what a value is does not matter here."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return "list" if isinstance(value, list) else None


@pytest.mark.slow
def test_committed_runs_hold_what_training_writes(tmp_path: Path) -> None:
    """One epoch is enough: what matters is which files, columns and keys a run holds."""
    fresh = train_run(tmp_path / "fresh", **{**RECIPES["demo"].changes, "epochs": 1})
    slim(fresh, keep_model=True)
    old = committed("demo")
    regenerate = ("differs from what training writes now: regenerate the committed runs with "
                  "`python -m tests.fixtures.make_runs` (see its docstring)")

    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in old.iterdir()), f"The file list {regenerate}"
    for name in names:
        path = old / name
        if path.suffix == ".json":
            shape = _shape(json.loads((fresh / name).read_text()))
            assert _shape(json.loads(path.read_text())) == shape, f"{name} {regenerate}"
        elif path.suffix == ".csv":
            columns = list(pd.read_csv(fresh / name, nrows=1).columns)
            assert list(pd.read_csv(path, nrows=1).columns) == columns, f"{name} {regenerate}"


# --- the guard -----------------------------------------------------------------------------------

def test_fit_guard_refuses_a_fit_in_a_fast_test() -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    with pytest.raises(fit_guard.FitRefusedError, match="mark the test @pytest.mark.slow"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)


def test_fit_guard_refuses_a_fit_in_a_process_a_fast_test_starts() -> None:
    done = subprocess.run([sys.executable, "-c", TINY_FIT], capture_output=True, text=True,
                          timeout=300)

    assert done.returncode != 0 and "FitRefusedError" in done.stderr, done.stderr[-2000:]
