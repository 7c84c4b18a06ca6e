"""The seed report's figures, redrawn from the study runs by the existing chart builders:
figures 5a and 5b are ``run_charts.comparison_chart`` with one line per batch-size arm."""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd

from fer_core.reports.seed_report import SeedReport
from views import run_charts

FIGURES = {"accuracy": ("seed_5a", "Figure 5a: validation accuracy by batch size"),
           "loss": ("seed_5b", "Figure 5b: validation loss by batch size")}


def batch_size_frame(seed: SeedReport) -> pd.DataFrame:
    """The batch-size arms' histories in ``history_frame`` form, one "run" per arm label."""
    arms = seed.studies["batch-size"].arms
    frames = [run_charts.history_frame(arm.history, arm.label) for arm in arms]
    return pd.concat(frames, ignore_index=True) if frames else run_charts.history_frame(None)


def batch_size_chart(frame: pd.DataFrame, metric: str) -> alt.Chart:
    """Figure 5a (``accuracy``) or 5b (``loss``): validation curves, one line per batch size."""
    name, title = FIGURES[metric]
    return run_charts.comparison_chart(frame, metric).properties(
        title=title, usermeta={"fer_chart": name})


def counts_distribution(train_counts: Mapping[str, int]) -> pd.DataFrame:
    """A run's recorded training counts in ``explore.distribution_frame``'s shape, for Explore's
    chart when the data set itself is not at hand (a run sent from elsewhere, a viewer)."""
    total = sum(train_counts.values()) or 1
    return pd.DataFrame([{"split": "train", "label": label, "count": int(count),
                          "share": count / total} for label, count in train_counts.items()])

