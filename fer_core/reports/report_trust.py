"""The report's trust sections: calibration (scores and a reliability diagram, as SVG) and a
Grad-CAM gallery of the same faces as the report's gallery. ``report`` calls these two."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fer_core import runs
from fer_core.core.errors import FerError
from fer_core.inference import calibration
from fer_core.reports import blocks

_VERSION_COLORS = ("#0072B2", "#D55E00")  # uncalibrated, calibrated (colour-blind safe)


def calibration_html(run_dir: Path) -> str:
    """ECE (15 bins), Brier and NLL on validation and test, and the test reliability diagram."""
    scores = calibration.scores_frame(run_dir)
    if scores.empty:
        return ""
    temperature = calibration.run_temperature(run_dir)
    note = (f"temperature {temperature:.3f}, fitted on validation" if temperature
            else "no temperature fitted (python -m fer_core calibrate RUN_DIR)")
    frame = calibration.reliability_frame(run_dir)
    split = "test" if "test" in set(frame["split"]) else "val"
    series = [{"label": "perfect calibration", "color": "#999999", "x": [0, 1], "y": [0, 1]}]
    for color, (version, rows) in zip(_VERSION_COLORS, frame[frame["split"] == split].groupby(
            "version", sort=True), strict=False):
        rows = rows[rows["count"] > 0]
        series.append({"label": version, "color": color, "x": rows["confidence"].tolist(),
                       "y": rows["accuracy"].tolist()})
    chart = blocks.svg_line_chart(series, title=f"Reliability ({split})", x_label="confidence",
                           y_label="accuracy")
    return (f"<h3>Calibration ({blocks.esc(note)})</h3>"
            + blocks.table_html(scores, calibration.SCORE_COLUMNS)
            + f'<div class="charts">{chart}</div>')


def gradcam_gallery_html(run_dir: Path, images: Mapping[str, np.ndarray] | None, split: str,
                         size: int) -> str:
    """The gallery's faces again, each under its Grad-CAM map for the predicted class."""
    from fer_core.inference.evaluation import load_run_model
    from fer_core.inference.explain import GradCam, overlay

    predictions = runs.read_predictions(run_dir)
    if images is None or predictions is None or size <= 0:
        return ""
    sample = blocks.gallery_sample(predictions, split=split, size=size)
    rows = [row for row in sample.itertuples(index=False) if str(row.id) in images]
    if not rows:
        return ""
    try:
        cam = GradCam(load_run_model(run_dir))
    except FerError as err:
        return f'<p class="note">No Grad-CAM gallery: {blocks.esc(err)}</p>'
    maps = cam(np.stack([images[str(row.id)] for row in rows])).maps
    figures = [
        f'<figure class="{"right" if row.true == row.pred else "wrong"}">'
        f'<img src="{blocks.png_data_uri(overlay(images[str(row.id)], heat, size=96))}" '
        f'alt="Grad-CAM of {blocks.esc(row.id)}"><figcaption><b>{blocks.esc(row.pred)}</b>'
        "</figcaption></figure>"
        for row, heat in zip(rows, maps, strict=True)
    ]
    return ("<h3>Grad-CAM: where the evidence for each predicted class lies</h3>"
            f'<div class="gallery">{"".join(figures)}</div>')
