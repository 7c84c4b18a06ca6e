"""The map of a run's faces in the HTML report: a static SVG of the test faces where the model
sees them, coloured by true class, as on Results' Map tab (``fer_core.runs.features``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_core.reports import blocks
from fer_core.runs import features as store

# Tableau 10, the Map tab's scheme, so a class has the same colour on the page and here.
CLASS_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                "#ff9da7", "#9c755f", "#bab0ac")
SIZE, LEGEND = 420, 130


def map_html(run_dir: Path, split: str = "test") -> str:
    """The section, or a line saying how to get it when the run has no map yet."""
    table = store.map_frame(Path(run_dir))
    meta = store.read_meta(Path(run_dir)) or {}
    if table is None or not meta:
        return ('<p class="note">No map of the faces yet: compute it on Results &gt; Map, or '
                f'with <code>python -m fer_core features {blocks.esc(Path(run_dir).name)}'
                '</code>.</p>')
    rows = table[table["split"] == split]
    if rows.empty:
        return ""
    classes = list(meta.get("classes") or sorted(set(rows["true"])))
    return ("<h3>Map of the faces</h3>" + map_svg(rows, classes, title=(
        f"{len(rows):,} {split} faces where the model sees them (UMAP of its features), "
        "coloured by true class")))


def map_svg(rows, classes: list[str], *, title: str) -> str:
    pad = 24
    x, y = rows["x"].to_numpy(float), rows["y"].to_numpy(float)
    span = max(np.ptp(x), np.ptp(y), 1e-9)
    px = pad + (x - x.min()) / span * (SIZE - 2 * pad)
    py = SIZE - pad - (y - y.min()) / span * (SIZE - 2 * pad)
    colour = {name: CLASS_COLORS[i % len(CLASS_COLORS)] for i, name in enumerate(classes)}
    dots = [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="1.6" fill="{colour.get(c, "#888888")}"/>'
            for a, b, c in zip(px, py, rows["true"], strict=True)]
    legend = [f'<circle cx="{SIZE + 12}" cy="{40 + 18 * i}" r="5" fill="{colour[name]}"/>'
              f'<text x="{SIZE + 22}" y="{44 + 18 * i}" class="tick">{blocks.esc(name)}</text>'
              for i, name in enumerate(classes)]
    return blocks.svg(SIZE + LEGEND, SIZE, title, 10, [*dots, *legend])
