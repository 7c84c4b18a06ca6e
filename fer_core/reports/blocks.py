"""The report's building blocks: inline SVG charts, HTML tables, curves and galleries of runs.

Why SVG drawn by hand: the report must open offline, in any browser, years from now. Vega-Lite
would need about 1 MB of JavaScript inlined (a CDN breaks "offline"), and Altair's SVG export a
30 MB native wheel (``vl-convert-python``) the app does not otherwise need. The charts are
simple, so the small functions below draw them: no JavaScript, and a report of a few hundred
kB. The report and its sections (``report_seed``, ``report_trust``) all draw with these.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from fer_core import runs
from fer_core.core.vocabulary import for_people
from fer_core.runs.frames import (
    METRICS,
    SCORE_COLORS,
    SPLIT_COLORS,
    confusion_frame,
    history_frame,
    phase_boundaries,
)

RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
              "#000000")
GALLERY_SIZE = 16


# --- SVG charts ----------------------------------------------------------------------------------

def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """About ``count`` round tick values covering [low, high] (whole numbers for epochs)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _fmt_tick(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def svg(width: float, height: float, title: str, title_x: float, body: Sequence[str]) -> str:
    return (f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{esc(title)}"><text x="{title_x}" y="16" class="title">'
            f'{esc(title)}</text>{"".join(body)}</svg>')


def gridline(x1: float, x2: float, y: float, label: str) -> str:
    """A horizontal grid line with its value at its left end."""
    return (f'<line x1="{x1}" x2="{x2}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{x1 - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{label}</text>')


def _legend(x: float, y: float, color: str, label: str) -> str:
    return (f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 18}" y="{y + 10}" class="tick">{esc(label)}</text>')


def svg_line_chart(series: Sequence[dict[str, Any]], *, title: str, x_label: str, y_label: str,
                   rules: Sequence[float] = (), width: int = 440, height: int = 260) -> str:
    """Lines with points; each series is ``{"label", "color", "x", "y"}``; ``rules`` are the
    x positions of dashed vertical lines (phase changes)."""
    left, right, top, bottom = 56, 16, 28, 44
    full_height = height + 16 * len(series)  # a legend row per series
    xs = [float(x) for s in series for x in s["x"]] or [0.0, 1.0]
    ys = [float(y) for s in series for y in s["y"] if math.isfinite(float(y))] or [0.0, 1.0]
    x_ticks = nice_ticks(min(xs), max(xs), integer=True)
    y_ticks = nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0 or 1) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0 or 1) * (height - top - bottom)

    out = [gridline(left, width - right, py(tick), _fmt_tick(tick)) for tick in y_ticks]
    for tick in x_ticks:
        out.append(f'<text x="{px(tick):.1f}" y="{height - bottom + 16}" class="tick" '
                   f'text-anchor="middle">{_fmt_tick(tick)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" '
               f'y2="{height - bottom}" class="axis"/>'
               f'<text x="{(left + width - right) / 2}" y="{height - 8}" class="label" '
               f'text-anchor="middle">{esc(x_label)}</text>'
               f'<text x="14" y="{(top + height - bottom) / 2}" class="label" '
               f'text-anchor="middle" transform="rotate(-90 14 {(top + height - bottom) / 2})">'
               f'{esc(y_label)}</text>')
    for rule in rules:
        out.append(f'<line x1="{px(rule):.1f}" x2="{px(rule):.1f}" y1="{top}" '
                   f'y2="{height - bottom}" class="rule"><title>phase change</title></line>')
    for number, s in enumerate(series):
        points = [(px(float(x)), py(float(y))) for x, y in zip(s["x"], s["y"], strict=True)
                  if math.isfinite(float(y))]
        color = esc(s["color"])
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>'
                   for x, y in points)
        out.append(_legend(left, height + 16 * number + 4, color, s["label"]))
    return svg(width, full_height, title, left, out)


def blue_shade(share: float) -> str:
    """White to dark blue, like the app's heatmap."""
    share = min(max(share, 0.0), 1.0)
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])
    r, g, b = (low + (high - low) * share).round().astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def _is_dark(color: str) -> bool:
    """Whether black text would be hard to read on ``color`` (#rrggbb): its relative
    luminance (WCAG) is below the point where white text has the better contrast."""
    channels = [int(color[k:k + 2], 16) / 255 for k in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.179


def svg_confusion_matrix(matrix: Sequence[Sequence[int]], classes: Sequence[str], *,
                         title: str = "Confusion matrix") -> str:
    """Counts in each cell, shaded by the share of the true class (rows sum to 100%)."""
    frame = confusion_frame(matrix, classes)
    n, cell, left, top = len(classes), 56, 84, 40
    size_w, size_h = left + n * cell + 8, top + n * cell + 70
    out = [f'<text x="{left + n * cell / 2}" y="{size_h - 6}" class="label" '
           f'text-anchor="middle">predicted</text>',
           f'<text x="12" y="{top + n * cell / 2}" class="label" text-anchor="middle" '
           f'transform="rotate(-90 12 {top + n * cell / 2})">true</text>']
    for row in frame.itertuples(index=False):
        i, j = classes.index(row.true), classes.index(row.predicted)
        x, y = left + j * cell, top + i * cell
        # A class, not a fill attribute: the stylesheet's text colour would win over that.
        ink = "on-dark" if _is_dark(blue_shade(row.share)) else "on-light"
        out.append(f'<g class="cell"><rect x="{x}" y="{y}" width="{cell - 2}" '
                   f'height="{cell - 2}" fill="{blue_shade(row.share)}"/>'
                   f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 - 2}" '
                   f'class="count {ink}" text-anchor="middle">{row.count}</text>'
                   f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 12}" '
                   f'class="share {ink}" text-anchor="middle">{row.share:.0%}</text>'
                   f'<title>true {esc(row.true)}, predicted {esc(row.predicted)}: '
                   f'{row.count} ({row.share:.1%} of {esc(row.true)})</title></g>')
    for k, name in enumerate(classes):
        out.append(f'<text x="{left - 6}" y="{top + k * cell + cell / 2 + 4}" class="tick" '
                   f'text-anchor="end">{esc(name)}</text>'
                   f'<text x="{left + k * cell + cell / 2}" y="{top + n * cell + 14}" '
                   f'class="tick" text-anchor="end" transform="rotate(-35 '
                   f'{left + k * cell + cell / 2} {top + n * cell + 14})">{esc(name)}</text>')
    return svg(size_w, size_h, title, left, out)


def svg_score_bars(frame: pd.DataFrame, *, title: str = "Per-class scores") -> str:
    """Precision, recall and F1 per class as grouped bars on a 0-1 scale."""
    scores = list(SCORE_COLORS)
    group, bar, left, top, plot_h = 24 * len(scores) + 14, 24, 44, 28, 180
    width = left + group * max(len(frame), 1) + 16
    height = top + plot_h + 70
    base = top + plot_h
    out = [gridline(left, width - 16, base - tick * plot_h, f"{tick:g}")
           for tick in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for g, values in enumerate(frame.to_dict("records")):
        for k, score in enumerate(scores):
            value = float(values[score] or 0.0)
            x, h = left + g * group + 7 + k * bar, value * plot_h
            out.append(f'<rect x="{x}" y="{base - h:.1f}" width="{bar - 3}" height="{h:.1f}" '
                       f'fill="{SCORE_COLORS[score]}"><title>{esc(values["class"])} '
                       f'{score}: {value:.3f}</title></rect>')
        centre = left + g * group + group / 2
        out.append(f'<text x="{centre}" y="{base + 14}" class="tick" text-anchor="middle">'
                   f'{esc(values["class"])}</text>')
    out.extend(_legend(left + k * 90, height - 24, SCORE_COLORS[score], score)
               for k, score in enumerate(scores))
    return svg(width, height, title, left, out)


# --- images --------------------------------------------------------------------------------------

def png_data_uri(image: np.ndarray) -> str:
    """A grey image as a ``data:`` URI, so the report needs no image files beside it."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def gallery_sample(predictions: pd.DataFrame, *, split: str = "test",
                   size: int = GALLERY_SIZE) -> pd.DataFrame:
    """Half the most confident right answers, half the most confident mistakes: those are the
    instructive ones (mislabelled images, or the classes the model truly mixes up)."""
    rows = predictions[predictions["split"] == split]
    right = rows[rows["true"] == rows["pred"]].sort_values("confidence", ascending=False)
    wrong = rows[rows["true"] != rows["pred"]].sort_values("confidence", ascending=False)
    n_wrong = min(len(wrong), size // 2)
    return pd.concat([right.head(size - n_wrong), wrong.head(n_wrong)], ignore_index=True)


# --- tables, curves and galleries of runs ---------------------------------------------------------

def table_html(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """An HTML table that wraps to the page's width, named and written for people
    (``vocabulary.for_people``), as the app shows it."""
    table = for_people(frame, columns).to_html(index=False, escape=True, border=0)
    return f'<div class="table">{table}</div>'


def _series(frame: pd.DataFrame, split: str, metric: str, label: str, color: str) -> dict:
    """One line of ``svg_line_chart``: a metric on a split, from a ``history_frame``."""
    rows = frame[(frame["split"] == split) & (frame["metric"] == metric)]
    return {"label": label, "color": color, "x": rows["epoch"].tolist(),
            "y": rows["value"].tolist()}


def comparison_html(histories: Mapping[str, pd.DataFrame]) -> str:
    frames = {run_id: history_frame(history, run_id) for run_id, history in histories.items()}
    charts = []
    for metric in METRICS:
        series = [_series(frame, "validation", metric, run_id, RUN_COLORS[k % len(RUN_COLORS)])
                  for k, (run_id, frame) in enumerate(frames.items())]
        if series := [s for s in series if s["x"]]:
            charts.append(svg_line_chart(series, title=f"Validation {metric}",
                                         x_label="epoch", y_label=metric, width=520))
    return f'<div class="charts">{"".join(charts)}</div>' if charts else "<p>No epochs.</p>"


def curves_html(history: pd.DataFrame) -> str:
    frame = history_frame(history)
    if frame.empty:
        return "<p>No epochs recorded.</p>"
    rules = phase_boundaries(frame)
    charts = []
    for metric in METRICS:
        series = [_series(frame, split, metric, split, color)
                  for split, color in SPLIT_COLORS.items()]
        charts.append(svg_line_chart([s for s in series if s["x"]], title=metric,
                                     x_label="epoch", y_label=metric, rules=rules))
    return f'<div class="charts">{"".join(charts)}</div>'


def gallery_html(run_dir: Path, images: Mapping[str, np.ndarray] | None, split: str,
                  size: int) -> str:
    predictions = runs.read_predictions(run_dir)
    if images is None or predictions is None or size <= 0:
        return ('<p class="note">No gallery: the images of the data set this run used were '
                'not at hand when the report was made.</p>')
    sample = gallery_sample(predictions, split=split, size=size)
    figures = []
    for row in sample.itertuples(index=False):
        image = images.get(str(row.id))
        if image is None:
            continue
        right = row.true == row.pred
        truth = "" if right else f"<br>true: {esc(row.true)}"
        figures.append(f'<figure class="{"right" if right else "wrong"}">'
                       f'<img src="{png_data_uri(image)}" alt="{esc(row.id)}" '
                       f'title="{esc(row.id)}"><figcaption><b>{esc(row.pred)}</b> '
                       f"{row.confidence:.0%}{truth}</figcaption></figure>")
    if not figures:
        return '<p class="note">No gallery: none of the predicted images were found.</p>'
    return ("<h3>Gallery: confident right answers and confident mistakes</h3>"
            f'<div class="gallery">{"".join(figures)}</div>')
