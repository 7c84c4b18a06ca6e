"""One wording for every number and name a person reads: label, format and help of each metric
and setting, for the app's tables, the HTML report, the model card and the command line's human
output. Files on disk and ``--json`` keep the machine keys (``val_accuracy``); people read
"Validation accuracy 25.4%". Settings take their labels and help from ``TrainConfig``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fer_core.core.config import config_fields, field_label

PERCENT, COUNT, SCORE = ".1%", ",.0f", ".4f"


@dataclass(frozen=True)
class Term:
    label: str
    fmt: str = ""  # a format spec for numbers; none: 4,462 for whole numbers, 0.001 for others
    help: str = ""


_METRICS = {
    "run": Term("Run"), "state": Term("State"), "preset": Term("Preset"), "sweep": Term("Sweep"),
    "split": Term("Split"), "class": Term("Class"), "version": Term("Version"),
    "usable": Term("Usable", help="Whether it beats always answering the commonest class."),
    "accuracy": Term("Accuracy", PERCENT, "Share of images whose top class is the true one."),
    "loss": Term("Loss", SCORE, "Cross-entropy on the split; lower is better."),
    "train_accuracy": Term("Training accuracy", PERCENT),
    "train_loss": Term("Training loss", SCORE), "val_loss": Term("Validation loss", SCORE),
    "val_accuracy": Term("Validation accuracy", PERCENT),
    "test_accuracy": Term("Test accuracy", PERCENT),
    "val_macro_f1": Term("Validation macro-F1", SCORE),
    "test_loss": Term("Test loss", SCORE), "best_val_loss": Term("Best validation loss", SCORE),
    "macro_f1": Term("Macro-F1", SCORE, "The F1 of each class, averaged: rare classes count "
                     "as much as common ones."),
    "precision": Term("Precision", SCORE, "Of the images given this class, the share right."),
    "recall": Term("Recall", SCORE, "Of the images of this class, the share found."),
    "f1": Term("F1", SCORE), "f1-score": Term("F1", SCORE),
    "n": Term("Images", COUNT), "support": Term("Images", COUNT), "count": Term("Images", COUNT),
    "images": Term("Images", COUNT), "total": Term("Total", COUNT),
    "train": Term("Train", COUNT), "val": Term("Validation", COUNT), "test": Term("Test", COUNT),
    "share": Term("Share", PERCENT), "train share": Term("Share of train", PERCENT),
    "true": Term("True class"), "predicted": Term("Taken for"),
    "share_of_true": Term("Share of the true class", PERCENT),
    "share_of_errors": Term("Share of its errors", PERCENT),
    "minutes": Term("Minutes", ".1f"), "seconds": Term("Seconds", ".1f"),
    "median brightness": Term("Median brightness", ".1f"),
    "median contrast": Term("Median contrast", ".1f"),
    "ece": Term("ECE", SCORE, "Expected calibration error (15 bins): how far confidence is "
                "from accuracy; 0 is perfect."),
    "brier": Term("Brier score", SCORE, "Mean squared error of the probabilities; lower is "
                  "better."),
    "nll": Term("NLL", SCORE, "Negative log-likelihood of the true class; lower is better."),
    "format": Term("Format"), "file": Term("File"), "MB": Term("Size (MB)", ".2f"),
    "max_abs_diff": Term("Largest probability difference", ".1e",
                         "Against the Keras model, over every image and class."),
    "top1_agreement": Term("Top-1 agreement", ".2%", "Share of images given the same class "
                           "as the Keras model."),
    "export_accuracy": Term("Accuracy (one view)", PERCENT, "Each export scores one view of "
                            "each image; the run's own accuracy may average several (test-time "
                            "augmentation)."),
    "images_per_s": Term("Images per second", COUNT), "target": Term("Target"),
    "source": Term("Quoted or measured"), "recipe": Term("Recipe"), "study": Term("Study"),
    "arm": Term("Arm"), "classes": Term("Classes"), "hardware": Term("Hardware"),
    "reason": Term("Reason"), "setting": Term("Setting"), "value": Term("Value"),
    "trial": Term("Trial"), "objective": Term("Objective"),
    "importance": Term("Importance", PERCENT, "Optuna's estimate (fANOVA) of how much of the "
                       "objective's spread over the trials the setting explains."),
}
_SETTINGS = {f.name: Term(field_label(f), help=f.metadata["help"]) for f in config_fields()}
TERMS: dict[str, Term] = {**_SETTINGS, **_METRICS}
WORDS = {"val": "validation"}  # values that are keys too: a split's name
VIEWS = {1: "one view", 2: "two views", 5: "five views", 10: "ten views"}


def label(key: str) -> str:
    """What people call ``key``: its term's label, else the key in words."""
    term = TERMS.get(key)
    return term.label if term else key.replace("_", " ").capitalize()


def text(key: str, value: Any) -> str:
    """``value`` of ``key`` as people read it: 25.4%, 4,462, 1.2346, on/off, — for nothing."""
    value = value.item() if hasattr(value, "item") else value  # numpy's scalars
    if value is None or isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        fmt = TERMS.get(key, Term("")).fmt
        if fmt:
            return format(value, fmt)
        return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{a} as {b}" for a, b in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return WORDS.get(str(value), str(value))


def for_people(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``frame`` (its ``columns``, in that order; a named index first) with each column named
    and each value written for people: every cell a string. ``attrs["help"]``: label -> help."""
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    chosen = [c for c in (columns or frame.columns) if c in frame.columns]
    out = pd.DataFrame({label(c): [text(c, v) for v in frame[c]] for c in chosen})
    out.attrs["help"] = {label(c): TERMS[c].help for c in chosen if c in TERMS and TERMS[c].help}
    return out


def view_count(metrics: dict) -> int:
    """How many views of each image a run's evaluation averaged (test-time augmentation)."""
    return (2 if metrics.get("tta") else 1) * (5 if metrics.get("tta_shift") else 1)


def views_text(metrics: dict) -> str:
    """"ten views": how many views of each image the run's scores average."""
    return VIEWS.get(view_count(metrics), f"{view_count(metrics)} views")
