"""Sentences a stakeholder reads about runs: reproducibility, usability, the data sets, and
the two halves of the summary table (names and numbers: ``fer_core.core.vocabulary``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fer_core.reports.baseline import verdict
from fer_core.runs import RunInfo

# Whether the seed repeats a run (config.json's environment.reproducible), for card and page.
REPRODUCIBLE = {
    "yes": "Reproducible: the same settings and seed give the same weights and predictions on a "
           "CPU.",
    "gpu": "Not exactly reproducible: trained on a GPU, whose kernels may add in any order.",
    "time budget": "Not exactly reproducible: a time budget chose the epochs by the clock.",
    "off": "Not exactly reproducible: trained with \"Reproducible on a CPU\" off (Re-run with "
           "the same settings turns it on).",
}


def bfloat16_scores_note(environment: Mapping[str, Any], metrics: Mapping[str, Any]) -> str | None:
    """For a run scored before every prediction came from the float32 model: its stored
    scores were computed in bfloat16, so they may differ a little from what Predict shows."""
    if str(environment.get("precision", "")).startswith("mixed") and "computed_in" not in metrics:
        return ("Scores computed in bfloat16 when it was trained; predictions now use the "
                "float32 model its exports are made from, which may differ slightly.")
    return None


# The summary in two tables of about ten columns each, so both fit a page without scrolling.
SCORE_COLUMNS = ["run", "state", "preset", "backbone", "val_accuracy", "test_accuracy",
                 "test_loss", "macro_f1", "usable", "epochs", "minutes"]
SETTING_COLUMNS = ["run", "batch_size", "learning_rate", "dropout", "optimizer", "weights",
                   "augment", "finetune_epochs", "seed", "sweep"]


def usable_text(info: RunInfo) -> str:
    """"yes", "no (baseline 24.9%)", or "" when the run has no scored split yet."""
    judged = verdict(info.metrics)
    if judged is None:
        return ""
    return "yes" if judged.usable else f"no (baseline {judged.baseline.accuracy:.1%})"


def with_usable(table: pd.DataFrame, infos: Sequence[RunInfo]) -> pd.DataFrame:
    return table.assign(usable=[usable_text(info) for info in infos]) if len(table) else table


def data_sets_text(infos: Sequence[RunInfo]) -> list[str]:
    """One line per data set the runs trained on: its name and how many training images."""
    lines: dict[str, str] = {}
    for info in infos:
        data: Mapping[str, Any] = info.data or {}
        if not data:
            continue
        name = data.get("name") or "an unnamed data set"
        synthetic = " (synthetic demo data)" if data.get("synthetic") else ""
        sizes = data.get("sizes") or {}
        counts = [f"{sizes[key]:,} {word}" for key, word in
                  (("train", "training"), ("val", "validation"), ("test", "test"))
                  if isinstance(sizes.get(key), int)]
        size = f": {', '.join(counts)} images" if counts else ""
        location = data.get("location")
        where = f" at {location}" if location else ""
        lines.setdefault(str(data.get("fingerprint") or name),
                         f"{name}{synthetic}{where}{size}")
    return list(lines.values())
