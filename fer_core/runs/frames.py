"""Run folders as tidy DataFrames, so the app's charts and the HTML report agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("accuracy", "loss")
SPLIT_NAMES = {"": "train", "val_": "validation"}
SPLIT_COLORS = {"train": "#999999", "validation": "#0072B2"}
SCORE_COLORS = {"precision": "#56B4E9", "recall": "#E69F00", "f1": "#009E73"}


def history_frame(history: pd.DataFrame, run_id: str = "") -> pd.DataFrame:
    """``history.csv`` in long form, a row per run, epoch, metric and split; missing values
    (an epoch cut short) are dropped rather than drawn as zero."""
    columns = ["run", "phase", "epoch", "metric", "split", "value"]
    if history is None or history.empty or "epoch" not in history:
        return pd.DataFrame(columns=columns)
    parts = [
        pd.DataFrame({"run": run_id, "phase": history.get("phase", 1), "epoch": history["epoch"],
                      "metric": metric, "split": split,
                      "value": pd.to_numeric(history[column], errors="coerce")})
        for prefix, split in SPLIT_NAMES.items() for metric in METRICS
        if (column := f"{prefix}{metric}") in history
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])[columns]


def phase_boundaries(frame: pd.DataFrame) -> list[float]:
    """Where one training phase ends and the next begins, half-way between two epochs."""
    if frame.empty or "phase" not in frame:
        return []
    last_epochs = frame.groupby("phase")["epoch"].max().sort_index()
    return [float(e) + 0.5 for e in last_epochs.to_numpy()[:-1]]


def confusion_frame(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> pd.DataFrame:
    """A confusion matrix in long form, with each cell's share of its true class."""
    counts = np.asarray(matrix, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    return pd.DataFrame([
        {"true": t, "predicted": p, "count": int(counts[i, j]), "share": float(shares[i, j])}
        for i, t in enumerate(classes) for j, p in enumerate(classes)
    ])


def per_class_frame(split_metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, in the run's class order."""
    per_class = split_metrics.get("per_class", {}) if split_metrics else {}
    return pd.DataFrame([
        {"class": name, "precision": values.get("precision"), "recall": values.get("recall"),
         "f1": values.get("f1-score"), "support": int(values.get("support", 0))}
        for name, values in per_class.items()
    ], columns=["class", "precision", "recall", "f1", "support"])


def most_confused_frame(split_metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The largest off-diagonal cells, as ``evaluation.most_confused_pairs`` recorded them."""
    pairs = split_metrics.get("most_confused", []) if split_metrics else []
    return pd.DataFrame(pairs, columns=["true", "predicted", "count", "share_of_true",
                                        "share_of_errors"])


def probability_frame(classes: Sequence[str], proba: Sequence[float]) -> pd.DataFrame:
    """One face's class probabilities, most likely first."""
    frame = pd.DataFrame({"class": list(classes), "probability": np.asarray(proba, dtype=float)})
    return frame.sort_values("probability", ascending=False, ignore_index=True)
