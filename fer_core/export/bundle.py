"""What goes beside each export so that it gives what the app gives: ``labels.txt`` (class
order), ``preprocessing.json`` (input, test-time augmentation views, temperature) and one
usage snippet per format that applies them.

The app classifies a face as: 48x48 grey crop, raw 0-255 pixels as float32 (the model scales
them itself), the mean of the probabilities over the run's test-time augmentation views, then
temperature scaling on the log of that mean when the run has a fitted temperature.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fer_core import runs
from fer_core.core import atomic
from fer_core.core.settings import IMAGE_SIZE

SNIPPETS = {"savedmodel": "predict_savedmodel.py", "onnx": "predict_onnx.py",
            "tflite": "predict_tflite.py", "tflite-int8": "predict_tflite_int8.py"}
MODEL_FILES = {"savedmodel": "savedmodel", "onnx": "model.onnx", "tflite": "model.tflite",
               "tflite-int8": "model_int8.tflite"}


def run_temperature(run_dir: Path) -> float:
    """The run's fitted softmax temperature (``calibration.json``), or 1.0 (no scaling) when
    it has none."""
    from fer_core.inference.calibration import run_temperature as fitted

    return fitted(Path(run_dir)) or 1.0


def tta_views(*, flip: bool, shift: int) -> list[dict[str, Any]]:
    """The views the app averages, in ``fer_core.inference.evaluation.tta_views``' order: offsets
    (dy, dx) in pixels, zero-filled, each also mirrored left-right with ``flip``."""
    offsets = [(0, 0)]
    if shift > 0:
        offsets += [(-shift, 0), (shift, 0), (0, -shift), (0, shift)]
    mirrors = (False, True) if flip else (False,)
    return [{"dy": dy, "dx": dx, "flip": m} for dy, dx in offsets for m in mirrors]


def preprocessing(run_dir: Path, classes: list[str]) -> dict[str, Any]:
    """``preprocessing.json``: everything between a face crop and the app's probabilities."""
    config = runs.read_config(Path(run_dir)).config
    tta, shift = bool(config.get("tta", False)), int(config.get("tta_shift", 0))
    return {
        "input": {"shape": [None, IMAGE_SIZE, IMAGE_SIZE, 1], "dtype": "float32",
                  "colour": "grey", "pixels": "raw 0-255, not scaled (the model scales them)",
                  "resize": "bilinear to 48x48, from a face box widened by 15% on each side"},
        "classes": list(classes),
        "tta": {"views": tta_views(flip=tta, shift=shift if tta else 0),
                "combine": "mean of the views' probabilities"},
        "temperature": run_temperature(run_dir),
        "output": "softmax(log(mean probabilities) / temperature)",
    }


_HEAD = '''"""Classify 48x48 face crops with the {title} export, as FER Studio does.

    python {name} face.png ...   # prints one JSON line per image
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
{runtime}

HERE = Path(__file__).parent
PRE = json.loads((HERE / "preprocessing.json").read_text())
LABELS = (HERE / "labels.txt").read_text().split("\\n")[:len(PRE["classes"])]


def probabilities(grey):  # (48, 48) uint8 face crop -> class probabilities
    views = PRE["tta"]["views"]
    s = max(max(abs(v["dy"]), abs(v["dx"])) for v in views)
    padded = np.pad(grey.astype(np.float32), s)  # shifted views are zero-filled
    crops = [padded[s + v["dy"]:s + v["dy"] + 48, s + v["dx"]:s + v["dx"] + 48] for v in views]
    x = np.stack([c[:, ::-1] if v["flip"] else c for c, v in zip(crops, views)])[..., None]
    logits = np.log(np.maximum(predict(x).mean(axis=0), 1e-12)) / PRE["temperature"]
    return np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()


for path in sys.argv[1:]:
    p = probabilities(np.asarray(Image.open(path).convert("L").resize((48, 48))))
    print(json.dumps({{"file": path, "label": LABELS[int(p.argmax())],
                      "probabilities": {{k: round(float(v), 6) for k, v in zip(LABELS, p)}}}}))
'''

_RUNTIMES = {
    "savedmodel": ('TensorFlow SavedModel', '''import tensorflow as tf

model = tf.saved_model.load(str(Path(__file__).parent / "{file}"))


def predict(x):
    return model.serve(tf.constant(x)).numpy()'''),
    "onnx": ("ONNX", '''import onnxruntime as ort

session = ort.InferenceSession(str(Path(__file__).parent / "{file}"))


def predict(x):
    return session.run(None, {{session.get_inputs()[0].name: x}})[0]'''),
    "tflite": ("LiteRT (TensorFlow Lite)", '''from ai_edge_litert.interpreter import Interpreter

interpreter = Interpreter(model_path=str(Path(__file__).parent / "{file}"))


def predict(x):
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])'''),
}
_RUNTIMES["tflite-int8"] = ("LiteRT int8", _RUNTIMES["tflite"][1])


def snippet(fmt: str) -> str:
    """The usage snippet of one format: its runtime's few lines, then the shared
    preprocessing, test-time augmentation and temperature."""
    title, runtime = _RUNTIMES[fmt]
    return _HEAD.format(title=title, name=SNIPPETS[fmt],
                        runtime=runtime.format(file=MODEL_FILES[fmt]))


def write_bundle(out_dir: Path, run_dir: Path, classes: list[str], formats: list[str]) -> None:
    atomic.write_text(out_dir / "labels.txt", "\n".join(classes) + "\n")
    atomic.write_text(out_dir / "preprocessing.json",
                      json.dumps(preprocessing(run_dir, classes), indent=2) + "\n")
    for fmt in formats:
        atomic.write_text(out_dir / SNIPPETS[fmt], snippet(fmt))
