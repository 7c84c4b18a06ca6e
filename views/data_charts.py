"""Altair charts of the frames of :mod:`views.explore`: a class keeps its colour
(``fer_core.core.emotions``) in every chart, and classes keep the order of the frame's rows."""

from __future__ import annotations

import altair as alt
import pandas as pd

from fer_core.data.classnames import class_colors

# Splits in greys: every hue already means a class.
SPLIT_COLORS: dict[str, str] = {"train": "#333333", "val": "#888888", "test": "#BBBBBB"}


# Every class name shown: Vega-Lite's default hides every other label when they would touch.
_CLASS_AXIS = alt.Axis(labelAngle=-40, labelOverlap=False)
_SPLIT_TOOLTIP = [alt.Tooltip("split:N", title="Split"), alt.Tooltip("label:N", title="Class"),
                  alt.Tooltip("count:Q", title="Images", format=","),
                  alt.Tooltip("share:Q", title="Share of split", format=".1%")]


def _order(values: pd.Series) -> list[str]:
    return [str(v) for v in dict.fromkeys(values)]


def _class_color(labels: list[str]) -> alt.Color:
    return alt.Color("label:N", title="Class", sort=labels,
                     scale=alt.Scale(domain=labels, range=class_colors(labels)))


def class_distribution_chart(frame: pd.DataFrame) -> alt.FacetChart | alt.Chart:
    """Bars of images per class, one panel per split, each with its own count axis since test
    is a tenth of train; the share in the tooltip compares them."""
    labels, splits = _order(frame["label"]), _order(frame["split"])
    base = alt.Chart(frame).mark_bar().encode(
        x=alt.X("label:N", sort=labels, title=None, axis=_CLASS_AXIS),
        y=alt.Y("count:Q", title="Images"),
        color=_class_color(labels).legend(None),
        tooltip=_SPLIT_TOOLTIP,
    ).properties(width=alt.Step(40), height=220)
    if len(splits) == 1:
        return base.properties(title=splits[0])
    return base.facet(column=alt.Column("split:N", sort=splits, title=None)).resolve_scale(
        y="independent")


def stat_distribution_chart(frame: pd.DataFrame, column: str) -> alt.Chart:
    """One line per class: the share (not count, so a rare class reads as well as a common one)
    of its images in each bin of ``column``."""
    title = column.capitalize()
    return alt.Chart(frame).mark_line(strokeWidth=2).encode(
        x=alt.X("bin_mid:Q", title=f"{title} (0-255 scale)"),
        y=alt.Y("share:Q", title="Share of the class", axis=alt.Axis(format="%")),
        color=_class_color(_order(frame["label"])),
        tooltip=[alt.Tooltip("label:N", title="Class"),
                 alt.Tooltip("bin_start:Q", title=f"{title} from", format=".0f"),
                 alt.Tooltip("bin_end:Q", title="to", format=".0f"),
                 alt.Tooltip("count:Q", title="Images", format=","),
                 alt.Tooltip("share:Q", title="Share of the class", format=".1%")],
    ).properties(title=title, height=240)


def split_chart(frame: pd.DataFrame) -> alt.Chart:
    """Each class's share of each split side by side: equal bars mean a stratified split."""
    labels, splits = _order(frame["label"]), _order(frame["split"])
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("label:N", sort=labels, title=None, axis=_CLASS_AXIS),
        xOffset=alt.XOffset("split:N", sort=splits),
        y=alt.Y("share:Q", title="Share of the split", axis=alt.Axis(format="%")),
        color=alt.Color("split:N", title="Split", sort=splits, scale=alt.Scale(
            domain=splits, range=[SPLIT_COLORS.get(s, "#666666") for s in splits])),
        tooltip=_SPLIT_TOOLTIP,
    ).properties(height=260)
