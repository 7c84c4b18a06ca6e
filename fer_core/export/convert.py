"""Model files for deployment: the run's Keras model in float32, written by Keras' own
``Model.export`` (SavedModel, ONNX, LiteRT) or by the TensorFlow Lite converter (int8).

Every model is exported as the float32 rebuild the app itself computes with
(``fer_core.training.models.as_float32``): onnxruntime and most phones cannot run bfloat16.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.core.errors import ExportError

REPRESENTATIVE_IMAGES = 200  # the int8 converter's calibration sample, drawn from train
KERAS_FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keras' exporters print pages of graph details; a command line wants one line each."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def write_keras_export(model: Any, fmt: str, target: Path) -> None:
    """SavedModel (``serve`` signature on raw 48x48 grey pixels), ONNX (through tf2onnx, which
    Keras' exporter calls) or float32 LiteRT, by Keras' own ``Model.export``."""
    if fmt == "onnx":
        _require("tf2onnx", "ONNX export")
        _require("onnx", "ONNX export")
    with _quiet():
        model.export(str(target), format=KERAS_FORMATS[fmt], verbose=False)


def write_tflite_int8(model: Any, target: Path, representative: np.ndarray,
                      check_images: np.ndarray | None = None) -> list[str]:
    """A post-training int8 LiteRT model: weights and activations in int8, calibrated on
    ``representative`` train images; input and output stay float32, so it is a drop-in
    replacement for the float file. Returns the layers kept in float so that it agrees with
    Keras on ``check_images`` (``fer_core.export.int8``: none when full int8 already does)."""
    from fer_core.export import int8

    with _quiet():
        flat, float_layers = int8.convert(model, representative, check_images)
    target.write_bytes(flat)
    return float_layers


def _require(module: str, purpose: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ExportError(f"{purpose} needs the '{module}' package, which is not installed. "
                          f"Install it with: pip install -r requirements.txt")

