"""The HTML report's "Seed report" section, drawn from :mod:`fer_core.reports.seed_report` the
way the rest of the report draws (inline SVG, base64 PNGs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fer_core import runs
from fer_core.data.classnames import class_colors
from fer_core.reports import blocks
from fer_core.reports.seed_report import STUDIES, SeedReport, build_seed_report


def seed_section_html(infos: Sequence[runs.RunInfo],
                      images_by_id: Mapping[str, np.ndarray] | None, *,
                      fingerprint: str | None, gallery_size: int) -> str:
    """The section for the report's runs; its figures come from the best measured run."""
    seed = build_seed_report(infos)
    rows = seed.rows.drop(columns="val_accuracy").dropna(axis="columns", how="all")
    parts = ["<h2 id=\"seed-report\">Seed report</h2>",
             "<p>The seed report trained InceptionV3 with ImageNet weights on FER-2013. Its "
             "numbers are <b>quoted</b>; ours are <b>measured</b> by the studies in this "
             "report, each a group of runs that answers one of its questions.</p>",
             blocks.table_html(rows),
             "<h3>The seed report's questions</h3><ul>"]
    parts += [f"<li><b>{blocks.esc(study.question)}</b> "
              f"{blocks.esc(seed.answers[study.name])}</li>" for study in STUDIES]
    parts.append("</ul>")
    parts.append(_figures_html(seed, images_by_id, fingerprint, gallery_size))
    return "\n".join(parts)


def _figures_html(seed: SeedReport, images_by_id: Mapping[str, np.ndarray] | None,
                  fingerprint: str | None, gallery_size: int) -> str:
    arms = seed.studies["batch-size"].arms
    parts = ["<h3>Figures 5a and 5b: validation accuracy and loss by batch size</h3>"]
    if arms:
        parts.append(blocks.comparison_html({arm.label: arm.history for arm in arms}))
    else:
        parts.append('<p class="note">Not measured yet: the study batch-size has no runs here.</p>')
    if not seed.measured:
        return "\n".join(parts)
    run = seed.measured[0]
    same_data = fingerprint is None or (run.data or {}).get("fingerprint") == fingerprint
    images = images_by_id if same_data else None
    parts.append(f"<h3>The other figures, from the best measured run, "
                 f"{blocks.esc(run.run_id)}</h3>")
    charts = [chart for chart in (_distribution_svg(run), _example_face(run, images)) if chart]
    parts.append(f'<div class="charts">{"".join(charts)}</div>')
    parts.append(blocks.curves_html(runs.read_history(run.path)))
    test = (run.metrics or {}).get("test", {})
    if test.get("confusion_matrix"):
        parts.append(blocks.svg_confusion_matrix(
            test["confusion_matrix"], run.metrics.get("classes", []),
            title="Confusion matrix (test)"))
    parts.append(blocks.gallery_html(run.path, images, "test", gallery_size))
    return "\n".join(parts)


def _distribution_svg(run: runs.RunInfo) -> str:
    """The run's training images per class, as bars in the class colours."""
    counts = (run.data or {}).get("train_counts") or {}
    if not counts:
        return ""
    left, top, plot_h, bar = 56, 28, 180, 40
    width, height, base = left + bar * len(counts) + 16, top + plot_h + 60, top + plot_h
    ticks = blocks.nice_ticks(0, max(counts.values()), integer=True)
    scale = plot_h / (ticks[-1] or 1)
    out = [blocks.gridline(left, width - 16, base - tick * scale, f"{tick:g}")
           for tick in ticks]
    colors = class_colors(list(counts))
    for k, (label, count) in enumerate(counts.items()):
        x, h = left + k * bar + 4, count * scale
        out.append(f'<rect x="{x}" y="{base - h:.1f}" width="{bar - 8}" height="{h:.1f}" '
                   f'fill="{colors[k]}"><title>{blocks.esc(label)}: {count:,}</title>'
                   f'</rect><text x="{x + bar / 2 - 4}" y="{base + 14}" class="tick" '
                   f'text-anchor="middle">{blocks.esc(label)}</text>')
    return blocks.svg(width, height, "Training images per class", left, out)


def _example_face(run: runs.RunInfo, images: Mapping[str, np.ndarray] | None) -> str:
    predictions = runs.read_predictions(run.path)
    if images is None or predictions is None:
        return ""
    face = next((images[i] for i in predictions["id"].astype(str) if i in images), None)
    if face is None:
        return ""
    return (f'<figure class="gallery"><img src="{blocks.png_data_uri(face)}" alt="example '
            'face" width="144" height="144"><figcaption>An example face</figcaption></figure>')
