"""The emotion timeline of a video (``fer_core.inference.video``'s table) or the live camera
(the same without ``face``). A frame can hold several faces; the timeline follows face 1, the
largest, as a viewer follows the main person."""

from __future__ import annotations

import altair as alt
import pandas as pd

from fer_core.data.classnames import class_colors

NON_CLASS = ("time_s", "frame", "face", "x", "y", "w", "h", "label")


def timeline_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Long form for Altair: time_s, emotion, probability (face 1 of each frame only)."""
    if "face" in table.columns:
        table = table[table["face"] == 1]
    classes = [c for c in table.columns if c not in NON_CLASS]
    return table.melt(id_vars="time_s", value_vars=classes, var_name="emotion",
                      value_name="probability")


def timeline_chart(table: pd.DataFrame, *, title: str = "Emotions over time") -> alt.Chart:
    """Each class's probability against time, coloured as everywhere else in the app."""
    frame = timeline_frame(table)
    classes = list(dict.fromkeys(frame["emotion"]))
    return alt.Chart(frame, title=title).mark_line(interpolate="monotone").encode(
        x=alt.X("time_s:Q", title="time (s)"),
        y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("emotion:N", title=None, scale=alt.Scale(
            domain=classes, range=class_colors(classes))),
        tooltip=["emotion:N", alt.Tooltip("time_s:Q", format=".2f"),
                 alt.Tooltip("probability:Q", format=".1%")],
    ).properties(height=260, usermeta={"fer_chart": "emotion_timeline"})
