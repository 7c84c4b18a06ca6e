"""Calibration: the scores, temperature scaling (argmax never changes), and a run's stored
temperature used by ``evaluate``, ``predict`` and ``calibrate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs
from fer_core.cli import main
from fer_core.core.calibration import (
    apply_temperature,
    brier_score,
    calibration_scores,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
)


def _overconfident(n: int = 4000, classes: int = 7, true_t: float = 2.5, seed: int = 0):
    """Labels drawn from softmax(logits), probabilities reported as softmax(true_t * logits):
    a model exactly ``true_t`` times too sure of itself."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.2, size=(n, classes))
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in honest])
    sharp = np.exp(true_t * logits)
    return labels, sharp / sharp.sum(axis=1, keepdims=True), honest


def test_fit_temperature_recovers_an_overconfident_models_temperature() -> None:
    labels, proba, honest = _overconfident()
    t = fit_temperature(proba, labels)
    assert 2.2 < t < 2.8
    fixed = apply_temperature(proba, t)
    assert expected_calibration_error(labels, fixed) < 0.5 * expected_calibration_error(
        labels, proba)
    assert calibration_scores(labels, fixed)["nll"] < calibration_scores(labels, proba)["nll"]
    np.testing.assert_allclose(fixed, honest, atol=0.03)


def test_temperature_scaling_never_changes_the_predicted_class() -> None:
    labels, proba, _ = _overconfident(n=2000, seed=1)
    for t in (0.2, 0.7, 1.0, 1.9, 7.5):
        scaled = apply_temperature(proba, t)
        np.testing.assert_array_equal(scaled.argmax(axis=1), proba.argmax(axis=1))
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0, atol=1e-5)


def test_scores_of_a_perfect_and_a_uniform_model() -> None:
    labels = np.array([0, 1, 2, 1])
    perfect = np.eye(3)[labels]
    assert brier_score(labels, perfect) == 0.0
    assert expected_calibration_error(labels, perfect) == 0.0
    uniform = np.full((4, 3), 1 / 3)
    assert brier_score(labels, uniform) == pytest.approx(2 / 3)
    # always 33% sure, right 1 time in 4 (argmax picks class 0): ECE = |1/3 - 1/4|
    assert expected_calibration_error(labels, uniform) == pytest.approx(1 / 3 - 1 / 4)
    table = reliability_table(labels, uniform)
    assert len(table) == 15 and table["count"].sum() == 4


@pytest.mark.slow
def test_training_stores_a_temperature_that_evaluate_and_predict_apply(
        demo_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / demo_run.name
    shutil.copytree(demo_run, run_dir)
    stored = json.loads(runs.files(run_dir).calibration.read_text())
    assert stored["fitted_on"] == "val" and stored["temperature"] > 0
    assert set(stored["scores"]) == {"val", "test"}
    val = stored["scores"]["val"]
    assert val["after"]["nll"] <= val["before"]["nll"] + 1e-9  # fitted to minimise exactly it

    face = tmp_path / "face.png"
    from PIL import Image

    from fer_core.data.demo import draw_face
    Image.fromarray(draw_face("happy", np.random.default_rng(5))).save(face)
    outputs = {}
    for flags in ([], ["--no-calibration"]):
        assert main(["predict", str(run_dir), str(face), "--json", *flags]) == 0
        (face_result,) = json.loads(capsys.readouterr().out)[0]["faces"]
        outputs[bool(flags)] = face_result
    assert outputs[True]["label"] == outputs[False]["label"]  # argmax unchanged
    raw, scaled = outputs[True]["probabilities"], outputs[False]["probabilities"]
    expected = apply_temperature(np.array([list(raw.values())]), stored["temperature"])[0]
    np.testing.assert_allclose(list(scaled.values()), expected, atol=2e-4)

    assert main(["evaluate", str(run_dir), "--json"]) == 0
    calibrated = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(run_dir), "--json", "--no-calibration"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert calibrated["temperature"] == stored["temperature"] and plain["temperature"] is None
    assert calibrated["accuracy"] == plain["accuracy"]  # the same predicted classes
    assert plain["calibration"]["ece"] != calibrated["calibration"]["ece"]

    # an ensemble fits its own temperature on the validation split's averaged probabilities
    twin = shutil.copytree(run_dir, tmp_path / "twin")
    assert main(["evaluate", "--ensemble", str(run_dir), str(twin), "--json"]) == 0
    ensemble = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--ensemble", str(run_dir), str(twin), "--json",
                 "--no-calibration"]) == 0
    raw_ensemble = json.loads(capsys.readouterr().out)
    assert ensemble["temperature"] > 0 and raw_ensemble["temperature"] is None
    assert ensemble["confusion_matrix"] == raw_ensemble["confusion_matrix"]  # same classes


def test_calibrate_command_fits_an_older_run_and_refuses_one_without_predictions(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import pandas as pd

    run_dir = tmp_path / "old-run"
    runs.create_run({"backbone": "fer-cnn"}, run_dir=run_dir)
    assert main(["calibrate", str(run_dir)]) == 2
    assert "no validation predictions" in capsys.readouterr().err

    labels, proba, _ = _overconfident(n=600, classes=3, seed=2)
    classes = ["angry", "happy", "sad"]
    frame = pd.DataFrame({"id": range(600), "split": ["val"] * 300 + ["test"] * 300,
                          "true": np.array(classes)[labels]})
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = proba[:, i].round(5)
    runs.write_predictions(run_dir, frame)
    assert main(["calibrate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "temperature" in out and "test: ECE" in out
    stored = json.loads(runs.files(run_dir).calibration.read_text())
    assert 1.8 < stored["temperature"] < 3.5
    assert stored["scores"]["test"]["after"]["ece"] < stored["scores"]["test"]["before"]["ece"]
