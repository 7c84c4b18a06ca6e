"""Model cards (``fer_core.reports.card``): written at the end of training, rewritten for older
runs, carried by the run zip, the HTML report and MLflow's files."""

from __future__ import annotations

import dataclasses
import io
import shlex
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs
from fer_core.cli import build_parser, main
from fer_core.core.config import resolve_config
from fer_core.reports import card
from fer_core.reports.card import run_zip
from fer_core.reports.report import build_report

SECTIONS = ["Model details", "Intended use", "Data", "Metrics", "Calibration", "Limitations",
            "Training configuration"]


@pytest.fixture
def run(mixed_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(mixed_run, tmp_path / mixed_run.name))


@pytest.mark.slow
def test_training_writes_a_card_with_mitchell_sections(run):
    text = runs.files(run).model_card.read_text()
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == SECTIONS
    assert "synthetic demo faces" in text and "Out of scope" in text
    assert "never seen a real face" in text and "noisy" not in text  # the demo's limits
    assert "near-duplicate pairs" in text and "test images (" in text  # the audit ran
    accuracy = runs.read_metrics(run)["test"]["accuracy"]
    assert f"accuracy {accuracy:.1%} (95% interval [" in text


def test_card_of_real_photos_states_their_limits_not_the_demos(demo_run, tmp_path):
    """A run trained on real faces (here a demo run relabelled as such) gets the limits of
    real photos; the demo's own card says it has never seen a real face."""
    demo = card.build_card(demo_run, audit_line="Audit: skipped here.").to_markdown()
    assert "never seen a real face" in demo and "FER-2013's were given" not in demo
    real = Path(shutil.copytree(demo_run, tmp_path / demo_run.name))
    record = runs.read_config(real)
    runs.write_config(real, dataclasses.replace(record, data={**record.data, "synthetic": False}))
    text = card.build_card(real, audit_line="Audit: skipped here.").to_markdown()
    assert "never seen a real face" not in text
    assert "demographic make-up" in text and "noisy" in text and "48x48 grey" in text


@pytest.mark.slow
def test_card_reproduce_command_resolves_to_the_runs_config(run):
    command = card.reproduce_command(runs.read_config(run))
    assert "--set mixed_precision=on" in command and "--set subsample_per_class=40" in command
    args = build_parser().parse_args(shlex.split(command)[3:])
    config = resolve_config(preset_name=args.preset, overrides=args.set, data=args.data)
    assert config.to_dict() == runs.read_config(run).config


def test_bootstrap_intervals_hold_the_point_estimate():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 3, 400)
    pred = np.where(rng.random(400) < 0.7, true, rng.integers(0, 3, 400))
    scores = card.bootstrap_scores(true, pred, 3, resamples=500)
    low, high = np.percentile(scores["accuracy"], [2.5, 97.5])
    assert low < (true == pred).mean() < high and high - low < 0.12
    assert scores["f1"].shape == (500, 3)
    perfect = card.bootstrap_scores(true, true, 3, resamples=50)
    assert perfect["macro_f1"].min() == 1.0


@pytest.mark.slow
def test_card_shows_calibration_when_the_run_has_it(run):
    from fer_core.inference.calibration import read_calibration

    record = read_calibration(run)  # fitted on validation when training ended
    text = card.build_card(run, audit_line="Audit: skipped here.").to_markdown()
    assert f"Temperature {record['temperature']:.3f}, fitted on validation" in text
    before, after = record["scores"]["test"]["before"], record["scores"]["test"]["after"]
    assert f"| test | {before['n']:,} | {before['ece']:.4f} | {after['ece']:.4f} |" in text
    runs.files(run).calibration.unlink()
    text = card.build_card(run, audit_line="Audit: skipped here.").to_markdown()
    assert "Not measured for this run" in text


@pytest.mark.slow
def test_runs_card_command_writes_a_card_for_an_older_run(run):
    runs.files(run).model_card.unlink()
    assert main(["runs", "card", str(run)]) == 0
    assert runs.files(run).model_card.read_text().startswith(f"# Model card: {run.name}")


@pytest.mark.slow
def test_run_zip_carries_a_card_and_leaves_exports_out(run):
    runs.files(run).model_card.unlink()
    (runs.files(run).export).mkdir()
    (runs.files(run).export / "model.onnx").write_bytes(b"onnx")
    archive = zipfile.ZipFile(io.BytesIO(run_zip(run)))
    names = archive.namelist()
    assert f"{run.name}/MODEL_CARD.md" in names
    assert not any("/export/" in name for name in names)
    assert archive.read(f"{run.name}/MODEL_CARD.md").decode().startswith("# Model card")


@pytest.mark.slow
def test_html_report_has_the_model_card_section(run):
    page = build_report([run])
    assert f"Model card: {run.name}" in page and "<h4>Intended use</h4>" in page
    assert "near-duplicate pairs" in page  # taken from the card written at training


@pytest.mark.slow
def test_mlflow_files_include_a_card_for_a_run_without_one(run, tmp_path):
    from fer_core.tracking import _derived_files

    runs.files(run).model_card.unlink()
    made = _derived_files(run, runs.read_metrics(run), tmp_path)
    assert (tmp_path / "MODEL_CARD.md") in made
    assert "MODEL_CARD.md" in runs.RunFiles.RECORDS  # a card written at training is logged
