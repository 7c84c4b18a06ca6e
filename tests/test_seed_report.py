"""The "Seed report" view: quoted and measured rows, the answers, the Results tab, the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs
from fer_core.runs import report, seed_report
from tests.seed_support import study_run

PAGE = Path(__file__).resolve().parents[1] / "pages" / "results.py"
OLD_GROUP = "study-batch-size-20261130-200000"
GROUP = "study-batch-size-20261130-221500"


@pytest.fixture
def study_root(tmp_path: Path, demo_run: Path, accurate_demo_run: Path) -> Path:
    """A partial batch-size study (16 and 32 finished, 64 not), an older group of it, a
    partial imbalance study, and one run no study launched."""
    root = tmp_path / "runs"
    study_run(demo_run, root, "20261130-221501-b16", study="batch-size", group=GROUP,
              arm="batch 16", batch_size=16)
    study_run(accurate_demo_run, root, "20261130-221502-b32", study="batch-size", group=GROUP,
              arm="batch 32", batch_size=32)
    study_run(accurate_demo_run, root, "20261130-200001-b64", study="batch-size",
              group=OLD_GROUP, arm="batch 64", batch_size=64)
    study_run(demo_run, root, "20261130-230001-none", study="imbalance",
              group="study-imbalance-20261130-230000", arm="none")
    shutil.copytree(demo_run, root / "20261130-100000-fast-cpu")
    return root


def _accuracy(run_dir: Path) -> float:
    return runs.read_metrics(run_dir)["test"]["accuracy"]


# --- the view model ------------------------------------------------------------------------------

def test_seed_report_no_runs_has_the_quoted_rows_and_says_to_launch_each_study():
    seed = seed_report.build_seed_report([])

    assert list(seed.rows["source"]) == ["quoted"] * 3
    assert list(seed.rows["test_accuracy"]) == [0.4414, 0.49, 0.4866]
    assert list(seed.rows["classes"]) == [7, 7, 6]
    for name in seed_report.STUDY_NAMES:
        assert seed.answers[name].startswith(f"Not measured yet: launch the study {name}")
    assert seed.measured == []


def test_seed_report_rows_mark_quoted_and_measured_and_keep_the_latest_group(study_root):
    seed = seed_report.build_seed_report(runs.list_runs(study_root))
    rows = seed.rows

    assert list(rows["source"]) == ["quoted"] * 3 + ["measured"] * 4
    measured = rows[rows["source"] == "measured"].set_index("run")
    # the newer batch-size group only: its batch 64 arm has not finished
    assert list(measured["arm"].iloc[:2]) == ["batch 16", "batch 32"]
    assert "20261130-200001-b64" not in measured.index
    assert seed.studies["batch-size"].group == GROUP
    assert seed.studies["batch-size"].missing == ["batch 64"]
    assert measured.loc["20261130-221502-b32", "test_accuracy"] == _accuracy(
        study_root / "20261130-221502-b32")
    other = measured.loc["20261130-100000-fast-cpu"]
    assert pd.isna(other["study"]) and other["recipe"].endswith("best other run")
    for run_id, row in measured.iterrows():
        history = runs.read_history(study_root / run_id)
        train = runs.read_config(study_root / run_id).data["sizes"]["train"]
        assert row["images_per_s"] == pytest.approx(
            train * len(history) / history["seconds"].sum(), rel=1e-2)
        assert row["minutes"] > 0 and row["val_accuracy"] > 0
    assert seed.measured[0].run_id == "20261130-221502-b32"  # best test accuracy first


def test_seed_report_answers_are_computed_from_the_measured_arms(study_root):
    seed = seed_report.build_seed_report(runs.list_runs(study_root))
    b16, b32 = (_accuracy(study_root / r) for r in ("20261130-221501-b16",
                                                      "20261130-221502-b32"))

    batch = seed.answers["batch-size"]
    assert batch.startswith(f"batch 32 scored best on test ({b32:.2%}), "
                            f"{(b32 - b16) * 100:.1f} points above batch 16.")
    assert "Lowest validation loss:" in batch and "Not finished yet: batch 64." in batch
    assert "standard error" in batch
    imbalance = seed.answers["imbalance"]
    assert imbalance.startswith("Only none has finished so far")
    assert "Disgust recall on test: none" in imbalance
    assert seed.answers["subsample"].startswith("Not measured yet: launch the study subsample")


def test_seed_report_ignores_unfinished_and_foreign_study_runs(study_root):
    runs.write_status(study_root / "20261130-230001-none", state="failed", error="stopped")
    record = runs.read_config(study_root / "20261130-221501-b16")
    runs.write_config(study_root / "20261130-221501-b16", type(record).from_json(
        {**record.to_json(), "study": {"name": "no-such-study", "group": "g", "arm": "a"}}))

    seed = seed_report.build_seed_report(runs.list_runs(study_root))

    assert seed.studies["imbalance"].arms == []
    assert [arm.label for arm in seed.studies["batch-size"].arms] == ["batch 32"]
    assert seed_report.has_study_runs(runs.list_runs(study_root))
