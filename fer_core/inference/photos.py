"""Photos in, each face's emotion out: what ``python -m fer_core predict`` prints.

Faces are found exactly as on the Predict page (``fer_core.data.faces.detect``); ``whole`` is
Predict's "use the whole photo": when no face is found, the centre square is taken as the face.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fer_core import runs
from fer_core.core.errors import DataError, RunError
from fer_core.data import faces
from fer_core.inference.neighbours import TrainingFaces

# Said beside the label wherever a prediction is shown (Predict, ``predict``).
DEMO_CAVEAT = "trained on the synthetic demo faces: this label says nothing about a real face"
WHOLE_CAVEAT = "no face detected: the centre square of the whole photo was classified as one"


def trained_on_demo(run_dirs: list[Path]) -> bool:
    """Whether any of the runs learnt from the synthetic demo faces (drawn, not photographed)."""
    return any((runs.read_config(Path(d)).data or {}).get("synthetic") for d in run_dirs)


def read_photo(path: Path) -> np.ndarray:
    """A photo file as upright grey pixels; a file that cannot be read is a ``DataError``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"{path} could not be read: {err.strerror or err}.") from err
    try:
        return faces.load_photo(data, name=str(path))
    except faces.FaceError as err:
        raise DataError(str(err)) from err


def predict_photos(run_dirs: list[Path], paths: list[Path], *, whole: bool = False,
                   tta: bool = False, calibration: bool = True, neighbours: int = 0
                   ) -> list[dict[str, Any]]:
    """``[{"file", "faces": [{"box": [x, y, w, h], "label", "probabilities"}]}]``, one entry
    per photo in order; the model is loaded once for all of them. ``calibration``: scaled by
    the run's fitted temperature, as Predict shows them. ``neighbours``: each face also gets
    its K nearest training faces (``"neighbours": [{"id", "label", "distance"}]``)."""
    from fer_core.inference.evaluation import load_run_model, predict_images

    index = _training_faces(run_dirs, neighbours)  # refused before any photo is read
    models: dict[Path, Any] = {}

    def load(run_dir: Path) -> Any:
        return models.setdefault(Path(run_dir), load_run_model(run_dir))

    found = [faces.detect(read_photo(path), whole_if_none=whole) for path in paths]
    crops = [crop for result in found for crop in result.crops]
    near = None
    if crops:
        classes, proba = predict_images(run_dirs, np.stack(crops), tta=tta, load_model=load,
                                        calibration=calibration)
        if index is not None:
            near = index.nearest_to_images(load(run_dirs[0]), np.stack(crops), neighbours)
    results, k, demo = [], 0, trained_on_demo(run_dirs)
    for path, result in zip(paths, found, strict=True):
        caveats = [WHOLE_CAVEAT] * (result.method == "whole") + [DEMO_CAVEAT] * demo
        entry: dict[str, Any] = {"file": str(path), "faces": [], "caveats": caveats}
        for box in result.boxes[:len(result.crops)]:
            p = proba[k]
            face = {"box": [int(v) for v in box], "label": classes[int(p.argmax())],
                    "probabilities": {c: round(float(v), 4)
                                      for c, v in zip(classes, p, strict=True)}}
            if near is not None:
                rows = near[near["query"] == str(k)]
                face["neighbours"] = rows[["id", "label", "distance"]].to_dict(orient="records")
            entry["faces"].append(face)
            k += 1
        results.append(entry)
    return results


def _training_faces(run_dirs: list[Path], k: int) -> TrainingFaces | None:
    """The run's searchable training faces when neighbours are asked; refused for an ensemble
    (whose members each see faces their own way) and for a run without features."""
    if k < 0:
        raise DataError(f"neighbours must be 0 (none) or more; got {k}.")
    if not k:
        return None
    if len(run_dirs) != 1:
        raise RunError("Nearest examples come from one run's feature space; pick one run, "
                       f"not {len(run_dirs)}.")
    return TrainingFaces.of_run(run_dirs[0])


def describe(result: dict[str, Any]) -> list[str]:
    """The lines ``predict`` prints for one photo: one per face, with its box."""
    if not result["faces"]:
        return [f"no face found: {result['file']}"]
    lines = []
    for number, face in enumerate(result["faces"], start=1):
        x, y, w, h = face["box"]
        ranked = sorted(face["probabilities"].items(), key=lambda kv: -kv[1])
        lines.append(f"{result['file']}: face {number} at x={x} y={y} w={w} h={h}: "
                     f"{face['label']}  " + "  ".join(f"{c} {v:.1%}" for c, v in ranked[:3])
                     + "".join(f"  ({caveat})" for caveat in result.get("caveats", [])))
        if face.get("neighbours"):
            lines.append("  nearest training faces: " + ", ".join(
                f"{n['label']} {n['distance']:.3f} ({n['id']})" for n in face["neighbours"]))
    return lines
