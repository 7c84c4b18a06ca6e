"""Altair charts of a search, from the frames of ``fer_core.runs.searches``: the objective as
trials end, the trials across their settings (parallel coordinates) and Optuna's parameter
importances. Tagged as ``views.run_charts``' are, ``usermeta = {"fer_chart": name}``."""

from __future__ import annotations

import altair as alt
import pandas as pd

from fer_core.core.vocabulary import label

STATE_COLORS = {"finished": "#0072B2", "pruned": "#999999"}


def _tag(chart: alt.TopLevelMixin, name: str) -> alt.TopLevelMixin:
    return chart.properties(usermeta={"fer_chart": name})


def objective_chart(frame: pd.DataFrame, objective: str) -> alt.LayerChart:
    """Each ended trial's objective at the minute it ended (pruned ones grey: the value they
    had reached), and the best finished trial so far as a step line."""
    title = label(objective)
    base = alt.Chart(frame).encode(x=alt.X("minutes:Q", title="minutes of search"))
    points = base.mark_circle(size=70).encode(
        y=alt.Y("value:Q", title=title, axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        color=alt.Color("state:N", title=None, scale=alt.Scale(
            domain=list(STATE_COLORS), range=list(STATE_COLORS.values()))),
        tooltip=["trial:Q", "state:N", alt.Tooltip("value:Q", format=".1%", title=title),
                 alt.Tooltip("minutes:Q", format=".1f")])
    best = base.mark_line(interpolate="step-after", color="#D55E00").encode(
        y="best:Q", tooltip=[alt.Tooltip("best:Q", format=".1%", title="best so far")])
    chart = alt.layer(best, points).properties(title=f"{title} as the search went on",
                                               width="container", height=260)
    return _tag(chart, "search_objective")


def parallel_chart(frame: pd.DataFrame, objective: str) -> alt.LayerChart:
    """One line per trial across its settings, each axis the setting's searched range (low at
    the bottom), coloured by the objective: where the good trials cross each axis."""
    title = label(objective)
    frame = frame.assign(setting_label=frame["setting"].map(label))
    order = list(dict.fromkeys(frame["setting_label"]))
    base = alt.Chart(frame).encode(
        x=alt.X("setting_label:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("position:Q", title="low → high of the range", axis=alt.Axis(labels=False),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=["trial:Q", "state:N", "setting_label:N", alt.Tooltip("value:N", title="value"),
                 alt.Tooltip("objective:Q", format=".1%", title=title)])
    lines = base.mark_line(opacity=0.8).encode(
        detail="trial:N",
        color=alt.Color("objective:Q", title=title, scale=alt.Scale(scheme="viridis"),
                        legend=alt.Legend(format="%")),
        strokeDash=alt.StrokeDash("state:N", title=None, scale=alt.Scale(
            domain=list(STATE_COLORS), range=[[1, 0], [4, 3]])))
    points = base.mark_circle(size=40, color="#444444")
    chart = alt.layer(lines, points).properties(title="Trials across their settings",
                                                width="container", height=280)
    return _tag(chart, "search_parallel")


def importance_chart(frame: pd.DataFrame) -> alt.Chart:
    """Optuna's parameter importances (fANOVA), largest on top."""
    frame = frame.assign(setting_label=frame["setting"].map(label))
    chart = alt.Chart(frame).mark_bar(color="#0072B2").encode(
        y=alt.Y("setting_label:N", sort=list(frame["setting_label"]), title=None),
        x=alt.X("importance:Q", title="importance", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=["setting_label:N", alt.Tooltip("importance:Q", format=".0%")],
    ).properties(title="What mattered (parameter importance)", width="container",
                 height=alt.Step(28))
    return _tag(chart, "search_importance")
