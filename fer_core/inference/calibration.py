"""A run's temperature: fitted on its validation predictions, stored in the run, applied by
``evaluate``, ``predict`` and the Predict page unless calibration is turned off.

Fitting reads ``predictions.csv``, which training writes from the best model averaged over the
run's test-time augmentation: so the temperature is fitted on exactly the probabilities it is
later applied to, and an older run needs neither its data nor its model to be calibrated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core import atomic
from fer_core.core.calibration import apply_temperature, calibration_scores, fit_temperature
from fer_core.core.errors import RunError


def split_arrays(run_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(labels, probabilities) of one split of ``predictions.csv``, or None."""
    frame = runs.read_predictions(Path(run_dir))
    if frame is None or "split" not in frame:
        return None
    rows = frame[frame["split"] == split]
    columns = [c for c in frame.columns if c.startswith("p_")]
    if rows.empty or not columns:
        return None
    lookup = {name[2:]: i for i, name in enumerate(columns)}
    labels = rows["true"].map(lookup)
    known = labels.notna().to_numpy()
    proba = rows[columns].to_numpy(dtype=np.float64)[known]
    return labels[known].to_numpy(dtype=np.int64), proba


def _scored_splits(run_dir: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(split, labels, probabilities) of validation and test, those the run has."""
    for split in ("val", "test"):
        arrays = split_arrays(run_dir, split)
        if arrays is not None:
            yield split, *arrays


def fit_run(run_dir: Path) -> dict[str, Any]:
    """Fit the run's temperature on its validation predictions and store it with its scores
    before and after, on validation and test. Returns what was stored."""
    run_dir = Path(run_dir)
    val = split_arrays(run_dir, "val")
    if val is None:
        raise RunError(f"Run {run_dir.name} has no validation predictions in predictions.csv to "
                       "fit a temperature on; it needs a finished run with a validation split.")
    temperature = fit_temperature(val[1], val[0])
    record: dict[str, Any] = {"temperature": round(temperature, 6), "fitted_on": "val",
                              "fitted": runs.now_iso(), "scores": {}}
    for split, labels, proba in _scored_splits(run_dir):
        record["scores"][split] = {
            "before": calibration_scores(labels, proba),
            "after": calibration_scores(labels, apply_temperature(proba, temperature)),
        }
    atomic.write_json(runs.files(run_dir).calibration, record)
    return record


def read_calibration(run_dir: Path) -> dict[str, Any] | None:
    """What :func:`fit_run` stored, or None for a run calibrated never (or unreadably)."""
    record = runs.read_json(runs.files(Path(run_dir)).calibration)
    if not record or not isinstance(record.get("temperature"), int | float):
        return None
    return record if record["temperature"] > 0 else None


def run_temperature(run_dir: Path) -> float | None:
    record = read_calibration(run_dir)
    return float(record["temperature"]) if record else None


def calibrate_proba(run_dir: Path, proba: np.ndarray) -> tuple[np.ndarray, float | None]:
    """``proba`` scaled by the run's temperature; unchanged (and None) for a run without one."""
    temperature = run_temperature(run_dir)
    if temperature is None:
        return proba, None
    return apply_temperature(proba, temperature), temperature


def reliability_frame(run_dir: Path) -> pd.DataFrame:
    """The reliability bins of validation and test, before and after the run's temperature:
    one row per (split, version, bin), for the reliability diagram of Results and the report.
    Empty for a run without predictions."""
    from fer_core.core.calibration import reliability_table

    temperature = run_temperature(run_dir)
    frames = []
    for split, labels, proba in _scored_splits(run_dir):
        versions = {"uncalibrated": proba}
        if temperature is not None:
            versions[f"temperature {temperature:.2f}"] = apply_temperature(proba, temperature)
        for version, values in versions.items():
            frames.append(reliability_table(labels, values).assign(split=split, version=version))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


SCORE_COLUMNS = ["split", "version", "n", "ece", "brier", "nll"]  # the tables people read


def scores_frame(run_dir: Path) -> pd.DataFrame:
    """ECE, Brier and NLL per split, before and after scaling (after: only when fitted)."""
    record = read_calibration(run_dir)
    rows = []
    for split, labels, proba in _scored_splits(run_dir):
        stored = (record or {}).get("scores", {}).get(split, {})
        before = stored.get("before") or calibration_scores(labels, proba)
        rows.append({"split": split, "version": "uncalibrated", **before})
        if stored.get("after"):
            rows.append({"split": split, "version": "calibrated", **stored["after"]})
    return pd.DataFrame(rows)
