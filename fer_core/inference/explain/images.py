"""Explain image files: find the faces as Predict does, then write one overlay PNG per face.

Used by ``python -m fer_core explain``. A face crop (at most 64 pixels a side) is used as it
is; a larger photo goes through face detection, and where none is found, its centre square.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fer_core.core.errors import DataError
from fer_core.data.faces import detect
from fer_core.inference.explain.gradcam import GradCam
from fer_core.inference.explain.overlay import overlay
from fer_core.inference.photos import read_photo


@dataclass(frozen=True)
class FaceExplanation:
    """One face of one image: what was explained and where its overlay was written."""

    image: str  # the file as given
    face: int  # 1-based, largest face first; 0 when the image held none
    method: str  # how the face was found: as-is, detected, whole or blank
    explained: str | None  # the class the map is for
    predicted: str | None
    probability: float | None  # of the explained class
    overlay: str | None  # the PNG written

    def to_json(self) -> dict:
        return asdict(self)


def class_index(classes: tuple[str, ...], name: str | None) -> int | None:
    """The index of a class the user named (any case), None for "the predicted one"."""
    if name is None:
        return None
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    if name.lower() not in lookup:
        raise DataError(f"--class must be one of the run's classes ({', '.join(classes)}); "
                        f"got {name!r}.")
    return lookup[name.lower()]


def _safe_stem(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._") or "image"


def explain_files(cam: GradCam, classes: tuple[str, ...], images: list[Path], out_dir: Path,
                  *, class_name: str | None = None) -> list[FaceExplanation]:
    """Grad-CAM overlays of every face in ``images``, written into ``out_dir`` as PNGs."""
    chosen = class_index(classes, class_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[FaceExplanation] = []
    for number, path in enumerate(images):
        found = detect(read_photo(path), whole_if_none=True)
        if not found.crops:
            results.append(FaceExplanation(str(path), 0, found.method, None, None, None, None))
            continue
        explained = cam(np.stack(found.crops), class_index=chosen)
        for k, crop in enumerate(found.crops):
            cls = int(explained.class_indices[k])
            name = f"{number:03d}-{_safe_stem(Path(path))}-face{k + 1}-{classes[cls]}.png"
            target = out_dir / name
            Image.fromarray(overlay(crop, explained.maps[k])).save(target)
            results.append(FaceExplanation(
                str(path), k + 1, found.method, classes[cls],
                classes[int(explained.probabilities[k].argmax())],
                round(float(explained.probabilities[k, cls]), 4), str(target)))
    return results
