"""Predict: photos in, each face's emotion out, from one trained run or an ensemble of runs.

Uploads and camera shots go through one function that takes bytes (``_render_photo``), so the
page behaves the same whichever way a photo arrives. Models are loaded once per run and kept
(``st.cache_resource``), re-loaded only when a run's ``model.keras`` changes.
"""

from __future__ import annotations

# First, before anything that may load TensorFlow: pylibsrtp (aiortc, under streamlit_webrtc)
# segfaults the process when it is imported after TensorFlow; imported before, both work.
import streamlit_webrtc  # noqa: F401  isort: skip

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from fer_core import runs
from fer_core.core.errors import FerError
from fer_core.data import faces
from fer_core.inference import evaluation, photos
from fer_core.inference.neighbours import DEFAULT_K
from fer_core.reports.baseline import is_unusable, verdict
from ui import feature_map, gallery, state, trust, video_modes
from views import run_charts

RUNS_KEY = "predict.runs"
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp"]
MODES = ("Photos", "Video file", "Live camera")

# The switches above the photos, two to a row: key (under "predict."), label, default, help.
OPTIONS = (
    ("tta", "Test-time augmentation", False,
     "Average each face with its mirror image, and with the shifted copies the run's recipe "
     "asks for (tta_shift): a little slower, usually a little better."),
    ("whole", "No face found: use the whole photo", False,
     "For photos that are face crops already, larger than 48 pixels."),
    ("calibrated", "Calibrated probabilities", True,
     "Scale by the run's temperature, fitted on validation, so 80% means right about 80% of "
     "the time. Never changes the predicted class. Ensembles are shown uncalibrated."),
    ("gradcam", "Show Grad-CAM", False,
     "Where in each face the evidence for the predicted class lies (of the first run, for an "
     "ensemble)."),
    ("neighbours", "Show nearest training faces", False,
     "The training faces closest to each face in the model's feature space, with their labels "
     "and distances: the examples a prediction rests on (of the first run, for an ensemble)."),
)


@dataclass(frozen=True)
class Switches:
    """The switches' values, one field per key of :data:`OPTIONS`."""

    tta: bool
    whole: bool
    calibrated: bool
    gradcam: bool
    neighbours: bool


def main() -> None:
    st.title("Predict")
    st.caption("Upload photos, or take one with the camera: each face found is cropped to "
               "48x48 grey, as in FER-2013, and classified by the chosen run(s). A video file "
               "or the live camera gives the emotions over time.")
    infos = [info for info in state.list_runs()
             if not info.problem and info.state == "succeeded"
             and runs.files(info.path).model.is_file()]
    if not infos:
        st.info("No finished run with a model yet: train one on the Train page, or import a "
                "run on the Results page.")
        st.stop()
    chosen = state.pick_runs(
        "Run(s)", infos, RUNS_KEY, default=[_newest_usable(infos)],
        detail=lambda info: info.config.get("backbone", "?")
        + (", not usable" if is_unusable(info.metrics) else ""),
        help="Several runs form an ensemble: their probabilities are averaged.")
    if not chosen:
        st.info("Pick at least one run.")
        st.stop()
    for info in chosen:
        if (judged := verdict(info.metrics)) is not None and not judged.usable:
            st.warning(f"{info.run_id}: {judged.text} Its answers below are no better than "
                       "a guess; pick another run.", icon=":material/block:")
    options = Switches(**_render_options())
    if not faces.detector_available():
        st.warning("Face detection is not available: this OpenCV ships no Haar cascade "
                   "(opencv-python-headless 5.x). The centre square of each photo is used.")
    mode = st.segmented_control("Input", list(MODES), default="Photos", key="predict.mode")
    if mode == "Video file":  # scored as a job, outside this process
        video_modes.render_video_file([info.path for info in chosen], tta=options.tta,
                                      whole=options.whole)
        return
    if mode == "Live camera":
        video_modes.render_live([info.path for info in chosen], tta=options.tta,
                                whole=options.whole,
                                load_model=lambda path: _model(str(path),
                                                               state.mtime(runs.files(path).model)))
        return
    taken = _collect_photos()
    if not taken:
        st.info("Upload a photo (PNG, JPEG, WebP or BMP) or take one with the camera.")
        return
    for number, (name, data) in enumerate(taken):
        _render_photo(name, data, chosen, number=number, options=options)


def _render_options() -> dict[str, bool]:
    """Each switch of :data:`OPTIONS`, by key."""
    cells = [cell for _ in range(0, len(OPTIONS), 2) for cell in st.columns(2)]
    return {key: cell.toggle(label, value=default, key=f"predict.{key}", help=help_text)
            for cell, (key, label, default, help_text) in zip(cells, OPTIONS, strict=False)}


def _newest_usable(infos: list[runs.RunInfo]) -> str:
    """The run offered first: the newest that beats the majority-class baseline."""
    return next((info.run_id for info in infos if not is_unusable(info.metrics)),
                infos[0].run_id)


# --- inputs --------------------------------------------------------------------------------------

def _collect_photos() -> list[tuple[str, bytes]]:
    """Every photo to classify, as (name, bytes): the uploads, then the camera shot."""
    uploads = st.file_uploader("Photos", type=IMAGE_TYPES, accept_multiple_files=True,
                               key="predict.upload")
    taken = [(upload.name, upload.getvalue()) for upload in uploads or []]
    # The camera widget asks for the browser's permission as soon as it is drawn: only on request.
    if st.toggle("Use the camera", key="predict.use_camera"):
        shot = st.camera_input("Take a photo", key="predict.camera")
        if shot is not None:
            taken.append(("camera photo", shot.getvalue()))
    return taken


# --- models --------------------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _model(path: str, stamp: float):
    """One run's Keras model, kept between reruns; ``stamp`` is model.keras' mtime."""
    return evaluation.load_run_model(Path(path))


# --- one photo -----------------------------------------------------------------------------------

def _render_photo(name: str, data: bytes, chosen: list[runs.RunInfo], *, number: int,
                  options: Switches) -> None:
    """Decode, find faces, classify, draw: the one path for uploads and camera shots."""
    st.subheader(name, divider="gray")
    try:
        grey = faces.load_photo(data, name=name)
    except FerError as err:
        st.error(str(err))
        return
    result = faces.detect(grey, whole_if_none=options.whole)
    if result.method == "blank":
        st.warning(f"{name} is blank (one flat colour): there is no face to classify.")
        return
    if not result.crops:
        st.warning(f"No face found in {name}. Faces need to be upright and roughly frontal; "
                   "if the photo is a face crop already, turn on 'use the whole photo'.")
        st.image(grey, width=320)
        return
    if result.method == "whole":
        st.warning(f"{name}: {photos.WHOLE_CAVEAT}.")
    elif result.method == "detected":
        st.image(faces.draw_boxes(grey, result.boxes), width=480,
                 caption=f"{len(result.boxes)} face(s) found")
    try:  # one run's probabilities, or the mean over an ensemble
        classes, proba = evaluation.predict_images(
            [info.path for info in chosen], np.stack(result.crops), tta=options.tta,
            load_model=lambda path: _model(str(path), state.mtime(runs.files(path).model)),
            calibration=options.calibrated)
    except FerError as err:
        st.error(str(err))
        return
    heat = trust.overlays(chosen[0].path, np.stack(result.crops)) if options.gradcam else None
    near = _nearest(chosen[0], np.stack(result.crops)) if options.neighbours else None
    demo = photos.trained_on_demo([info.path for info in chosen])  # one read, not one a face
    for face, (crop, probabilities) in enumerate(zip(result.crops, proba, strict=True), 1):
        frame = run_charts.probability_frame(classes, probabilities)
        top = frame.iloc[0]
        left, right = st.columns([1, 4])
        left.image(crop, width=144, caption=f"face {face} (48x48)")
        if heat:
            left.image(heat[face - 1], width=144, caption=f"face {face}: Grad-CAM")
        right.markdown(f"Face {face}: **{top['class']}** ({top['probability']:.0%})")
        if demo:
            right.caption(f":orange[:material/warning: A model {photos.DEMO_CAVEAT}.]")
        right.altair_chart(run_charts.probability_chart(frame),
                           key=f"predict.proba.{number}.{face}")
        if near is not None:
            right.caption(f"Nearest training faces of {chosen[0].run_id} (label · distance):")
            feature_map.render_neighbours(right, near[near["query"] == str(face - 1)],
                                          gallery.dataset_if_at_hand(chosen[0]))


def _nearest(run: runs.RunInfo, crops: np.ndarray):
    """The crops' nearest training faces in ``run``'s feature space, or ``None`` (said why)."""
    index = feature_map.training_faces(run.path)
    if index is None:
        feature_map.missing_features_note(run)
        return None
    model = _model(str(run.path), state.mtime(runs.files(run.path).model))
    return index.nearest_to_images(model, crops, DEFAULT_K)


main()
