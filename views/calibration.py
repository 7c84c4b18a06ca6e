"""The reliability diagram: how often the model is right against how sure it says it is. A
calibrated model's points lie on the diagonal; points below it are overconfident bins."""

from __future__ import annotations

import altair as alt
import pandas as pd


def reliability_chart(frame: pd.DataFrame, *, split: str = "test") -> alt.LayerChart:
    """Accuracy against mean confidence per bin (point size: images in the bin), with the
    diagonal of perfect calibration, for one split, uncalibrated and after scaling."""
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
    points = base.mark_circle().encode(size=alt.Size("count:Q", title="images",
                                                     legend=None))
    chart = alt.layer(diagonal, lines, points).properties(
        title=f"Reliability ({'validation' if split == 'val' else split})", width=340,
        height=300)
    return chart.properties(usermeta={"fer_chart": "reliability"})


def scores_table(frame: pd.DataFrame) -> pd.DataFrame:
    """ECE, Brier and NLL as a small table, rounded for display."""
    if frame.empty:
        return frame
    table = frame[["split", "version", "n", "ece", "brier", "nll"]].copy()
    table["split"] = table["split"].map({"val": "validation"}).fillna(table["split"])
    return table.round({"ece": 4, "brier": 4, "nll": 4})
