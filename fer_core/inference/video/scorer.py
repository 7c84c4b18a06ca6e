"""One frame in; its faces' boxes, labels and probabilities out, and the frame drawn over.

The video file scorer and the live camera share this step, so a clip scored offline and the
same scene seen live give the same labels, and the same as Predict for the same faces.

Per frame there are only a handful of faces, so Keras' ``predict`` (built for large arrays,
with a per-call set-up cost of tens of milliseconds) is replaced by ``predict_on_batch`` over
one batch holding every view of every face: the same numbers, several times faster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fer_core.core.calibration import apply_temperature
from fer_core.core.settings import IMAGE_SIZE
from fer_core.data import faces
from fer_core.data.classnames import class_colors
from fer_core.data.faces import FaceBox
from fer_core.inference.evaluation import load_run_model, run_tta_shift, shared_classes, tta_views


@dataclass(frozen=True)
class FaceScore:
    """One face of one frame: where it is and what the model makes of it."""

    box: FaceBox
    probabilities: np.ndarray  # one per class, in the run's class order

    def label(self, classes: Sequence[str]) -> str:
        return classes[int(np.argmax(self.probabilities))]


class FaceClassifier:
    """The models of one run, or an ensemble, applied to 48x48 grey crops as
    ``predict_images`` applies them: test-time augmentation, averaging, one run's temperature."""

    def __init__(self, models: Sequence[Any], classes: Sequence[str], *, tta: bool = False,
                 shifts: Sequence[int] | None = None, temperature: float | None = None) -> None:
        self.models = list(models)
        self.classes = tuple(classes)
        self.tta = tta
        self.shifts = list(shifts) if shifts is not None else [0] * len(self.models)
        self.temperature = temperature
        # The first predict_on_batch builds Keras' predict function; do it here, not on the
        # first frame of a stream (and not from two threads at once).
        self(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8))

    @classmethod
    def from_runs(cls, run_dirs: Sequence[Path], *, tta: bool = False,
                  load_model: Callable[[Path], Any] | None = None,
                  calibration: bool = True) -> FaceClassifier:
        """The runs' models (through ``load_model``, so a page can reuse cached ones)."""
        from fer_core.inference.calibration import run_temperature

        run_dirs = [Path(r) for r in run_dirs]
        classes = shared_classes(run_dirs)
        shifts = [run_tta_shift(r) if tta else 0 for r in run_dirs]
        models = [(load_model or load_run_model)(r) for r in run_dirs]
        temperature = (run_temperature(run_dirs[0])
                       if calibration and len(run_dirs) == 1 else None)
        return cls(models, classes, tta=tta, shifts=shifts, temperature=temperature)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) for (N, 48, 48) uint8 crops."""
        n = len(crops)
        if n == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        probas = []
        for model, shift in zip(self.models, self.shifts, strict=True):
            views = np.concatenate(list(tta_views(crops, flip=self.tta, shift=shift)))
            out = np.asarray(model.predict_on_batch(views), dtype=np.float32)
            probas.append(out.reshape(-1, n, out.shape[-1]).mean(axis=0))
        average = np.mean(probas, axis=0)
        if self.temperature is None:
            return average
        return apply_temperature(average, self.temperature).astype(np.float32)


class FrameScorer:
    """Find the faces of a frame and classify them: the one step of video and live modes.
    ``whole_if_none``: Predict's "use the whole photo", for clips that are face crops already;
    ``detect_side``: frames are shrunk to it for detection (the live camera's is smaller)."""

    def __init__(self, classifier: FaceClassifier, *, whole_if_none: bool = False,
                 detect_side: int = faces.DETECT_SIDE) -> None:
        self.classifier = classifier
        self.whole_if_none = whole_if_none
        self.detect_side = detect_side

    @classmethod
    def from_runs(cls, run_dirs: Sequence[Path], *, tta: bool = False, whole_if_none: bool = False,
                  detect_side: int = faces.DETECT_SIDE,
                  load_model: Callable[[Path], Any] | None = None) -> FrameScorer:
        return cls(FaceClassifier.from_runs(run_dirs, tta=tta, load_model=load_model),
                   whole_if_none=whole_if_none, detect_side=detect_side)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    def score(self, rgb: np.ndarray) -> list[FaceScore]:
        """The faces of one (H, W, 3) uint8 frame, largest first."""
        found = faces.detect(rgb, whole_if_none=self.whole_if_none, detect_side=self.detect_side)
        if not found.crops:
            return []
        proba = self.classifier(np.stack(found.crops))
        return [FaceScore(box, p) for box, p in zip(found.boxes, proba, strict=True)]


def annotate(rgb: np.ndarray, scores: Sequence[FaceScore], classes: Sequence[str]) -> np.ndarray:
    """The frame with each face's box and "label NN%" drawn in the emotion's colour."""
    img = Image.fromarray(rgb)
    pen = ImageDraw.Draw(img)
    width = max(2, round(max(rgb.shape[:2]) / 320))
    font = ImageFont.load_default(size=max(14, width * 8))
    colours = dict(zip(classes, class_colors(list(classes)), strict=True))
    for face in scores:
        box, label = face.box, face.label(classes)
        colour = colours[label]
        pen.rectangle([box.x, box.y, box.x + box.w, box.y + box.h], outline=colour, width=width)
        text = f"{label} {float(np.max(face.probabilities)):.0%}"
        left, top, right, bottom = pen.textbbox((box.x, box.y), text, font=font)
        top_y = box.y - (bottom - top) - 2 * width if box.y > bottom - top + 2 * width else box.y
        pen.rectangle([box.x, top_y, box.x + right - left + 2 * width,
                       top_y + bottom - top + 2 * width], fill=colour)
        pen.text((box.x + width, top_y + width - (top - box.y)), text, fill="white", font=font)
    return np.asarray(img)
