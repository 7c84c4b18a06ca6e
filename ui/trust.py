"""Streamlit helpers for explanations and calibration, shared by Results and Predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from fer_core.core.errors import FerError


@st.cache_resource(max_entries=4, show_spinner=False)
def gradcam(run_path: str, stamp: float):
    """A run's Grad-CAM, kept loaded; ``stamp`` (the model file's mtime) reloads a new model."""
    from fer_core.inference.evaluation import load_run_model
    from fer_core.inference.explain import GradCam

    return GradCam(load_run_model(Path(run_path)))


def overlays(run_path: Path, faces: np.ndarray) -> list[np.ndarray] | None:
    """Grad-CAM overlays (RGB) of faces for the predicted class; None, with the reason shown,
    when the run cannot be explained."""
    from fer_core import runs
    from fer_core.inference.explain import overlay
    from ui import state

    if len(faces) == 0:
        return []
    try:
        cam = gradcam(str(run_path), state.mtime(runs.files(run_path).model))
        result = cam(np.asarray(faces))
    except FerError as err:
        st.warning(f"No explanation: {err}")
        return None
    return [overlay(face, heat, size=96) for face, heat in zip(faces, result.maps, strict=True)]


def render_calibration(run_path: Path) -> None:
    """ECE, Brier and NLL and the reliability diagrams of a run (validation and test)."""
    from fer_core.inference import calibration
    from ui.state import show_table
    from views.run_charts import reliability_chart

    frame = calibration.reliability_frame(run_path)
    if frame.empty:
        st.info("No predictions.csv in this run: calibration is measured on its predictions.")
        return
    temperature = calibration.run_temperature(run_path)
    if temperature is None:
        st.caption("No temperature fitted yet: `python -m fer_core calibrate RUN_DIR` fits one.")
    else:
        st.caption(f"Temperature {temperature:.3f}, fitted on validation; Predict, `evaluate` "
                   "and `predict` apply it. It never changes the predicted class.")
    show_table(calibration.scores_frame(run_path), calibration.SCORE_COLUMNS)
    splits = [s for s in ("val", "test") if s in set(frame["split"])]
    for cell, split in zip(st.columns(len(splits)), splits, strict=True):
        cell.altair_chart(reliability_chart(frame, split=split), key=f"results.reliability_{split}")
