"""Altair charts of runs, from the frames of ``fer_core.runs.frames`` (re-exported, as the pages
use both) and ``fer_core.inference.calibration``. Each carries ``usermeta = {"fer_chart": name}``,
so a test or a saved spec tells a page's charts apart without relying on their order."""

from __future__ import annotations

import altair as alt
import pandas as pd

from fer_core.data.classnames import class_colors
from fer_core.runs.frames import (  # noqa: F401  (re-exported for the pages)
    METRICS,
    SCORE_COLORS,
    SPLIT_COLORS,
    confusion_frame,
    history_frame,
    most_confused_frame,
    per_class_frame,
    phase_boundaries,
    probability_frame,
)

PANEL_WIDTH = 340  # concatenated views cannot use width="container" in Vega-Lite


def _tag(chart: alt.TopLevelMixin, name: str) -> alt.TopLevelMixin:
    return chart.properties(usermeta={"fer_chart": name})


def _metric_panel(frame: pd.DataFrame, metric: str,
                  boundaries: list[float]) -> alt.LayerChart | alt.Chart:
    """One metric's train and validation curves, with the phase changes as dashed rules."""
    lines = alt.Chart(frame[frame["metric"] == metric]).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("split:N", title=None, scale=alt.Scale(
            domain=list(SPLIT_COLORS), range=list(SPLIT_COLORS.values()))),
        tooltip=["run:N", "phase:O", "epoch:Q", "split:N",
                 alt.Tooltip("value:Q", format=".4f")],
    ).properties(title=metric, width=PANEL_WIDTH, height=260)
    if not boundaries:
        return lines
    rules = alt.Chart(pd.DataFrame({"epoch": boundaries, "label": "phase change"})).mark_rule(
        strokeDash=[4, 4], color="#666666"
    ).encode(x="epoch:Q", tooltip=["label:N", "epoch:Q"])
    return alt.layer(lines, rules)


def learning_curves_chart(frame: pd.DataFrame) -> alt.HConcatChart:
    """Train against validation accuracy and loss of one run; a dashed rule marks the change to
    phase 2 (fine-tuning), since a jump there is the unfreezing, not a bug."""
    boundaries = phase_boundaries(frame)
    panels = [_metric_panel(frame, metric, boundaries) for metric in METRICS]
    return _tag(alt.hconcat(*panels), "learning_curves")


def comparison_chart(frame: pd.DataFrame, metric: str = "accuracy") -> alt.Chart:
    """Validation ``metric`` of several runs overlaid, one colour per run."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    data = frame[(frame["split"] == "validation") & (frame["metric"] == metric)]
    chart = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", title=f"validation {metric}", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title="run", legend=alt.Legend(orient="bottom", columns=1,
                                                                labelLimit=400)),
        tooltip=["run:N", "phase:O", "epoch:Q", alt.Tooltip("value:Q", format=".4f")],
    ).properties(title=f"Validation {metric}", width="container", height=300)
    return _tag(chart, f"comparison_{metric}")


def confusion_chart(frame: pd.DataFrame, *, normalised: bool = False) -> alt.LayerChart:
    """True (rows) against predicted (columns) classes, each cell's value written in; normalised,
    each row sums to 1, so rare classes (disgust) are as readable as common ones."""
    order = list(dict.fromkeys(frame["true"]))
    field, fmt, title = ("share", ".0%", "share of true") if normalised else ("count", "d",
                                                                               "images")
    top = float(frame[field].max()) if len(frame) else 0.0
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", sort=order, title="predicted", axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("true:N", sort=order, title="true"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{field}:Q", title=title, scale=alt.Scale(scheme="blues")),
        tooltip=["true:N", "predicted:N", "count:Q", alt.Tooltip("share:Q", format=".1%")],
    )
    labels = base.mark_text(fontSize=12).encode(
        text=alt.Text(f"{field}:Q", format=fmt),
        color=alt.when(alt.datum[field] > top / 2).then(alt.value("white"))
        .otherwise(alt.value("black")),
    )
    chart = alt.layer(cells, labels).properties(width=alt.Step(52), height=alt.Step(40),
                                                title="Confusion matrix")
    return _tag(chart, "confusion_matrix")


def per_class_chart(frame: pd.DataFrame) -> alt.Chart:
    """Precision, recall and F1 side by side for each class."""
    order = list(frame["class"])
    long = frame.melt(id_vars=["class"], value_vars=list(SCORE_COLORS), var_name="score")
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("class:N", sort=order, title=None,
                axis=alt.Axis(labelAngle=-40, labelOverlap=False)),
        xOffset=alt.XOffset("score:N", sort=list(SCORE_COLORS)),
        y=alt.Y("value:Q", title="score", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("score:N", title=None, sort=list(SCORE_COLORS),
                        scale=alt.Scale(domain=list(SCORE_COLORS),
                                        range=list(SCORE_COLORS.values()))),
        tooltip=["class:N", "score:N", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title="Per-class scores", width="container", height=260)
    return _tag(chart, "per_class")


def probability_chart(frame: pd.DataFrame) -> alt.Chart:
    """One face's probabilities as horizontal bars, most likely on top, in class colours."""
    classes = list(frame["class"])
    chart = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("class:N", sort=classes, title=None),
        x=alt.X("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=alt.Color("class:N", legend=None,
                        scale=alt.Scale(domain=classes, range=class_colors(classes))),
        tooltip=["class:N", alt.Tooltip("probability:Q", format=".1%")],
    ).properties(width="container", height=alt.Step(22))
    return _tag(chart, "probabilities")


def job_curve_chart(data: pd.DataFrame, metric: str) -> alt.Chart:
    """One metric of a job as it trains, small enough for the Train page's job card."""
    axis = alt.Axis(format="%") if metric == "accuracy" else alt.Axis()
    return alt.Chart(data, height=180, title=metric.capitalize()).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=metric, axis=axis, scale=alt.Scale(zero=False)),
        color=alt.Color("split:N", title=None, scale=alt.Scale(domain=["train", "validation"])),
        tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", format=".4f")],
    )


def reliability_chart(frame: pd.DataFrame, *, split: str = "test") -> alt.LayerChart:
    """The reliability diagram of one split, uncalibrated and after scaling: accuracy against
    mean confidence per bin (point size: images in the bin). A calibrated model's points lie on
    the diagonal of perfect calibration; points below it are overconfident bins."""
    shown = frame[(frame["split"] == split) & (frame["count"] > 0)]
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        color="#999999", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    base = alt.Chart(shown).encode(
        x=alt.X("confidence:Q", title="confidence (mean of the bin)",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("version:N", title=None),
        tooltip=["version:N", alt.Tooltip("bin_low:Q", format=".2f", title="from"),
                 alt.Tooltip("bin_high:Q", format=".2f", title="to"), "count:Q",
                 alt.Tooltip("confidence:Q", format=".3f"),
                 alt.Tooltip("accuracy:Q", format=".3f")],
    )
    lines = base.mark_line(point=False)
    points = base.mark_circle().encode(size=alt.Size("count:Q", title="images", legend=None))
    chart = alt.layer(diagonal, lines, points).properties(
        title=f"Reliability ({'validation' if split == 'val' else split})", width=340, height=300)
    return _tag(chart, "reliability")
