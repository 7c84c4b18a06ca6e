"""Model files for deployment: the run's Keras model in float32, written by Keras' own
``Model.export`` (SavedModel, ONNX, LiteRT) or by the TensorFlow Lite converter (int8).

A run trained in mixed bfloat16 (``best`` on CPUs with native bf16) computes in bfloat16: an
export of it would compute in bfloat16 too, which onnxruntime and most phones cannot run, and
would disagree with a float32 reference by ~1e-2. So every model is rebuilt from its config
with every layer's dtype policy set to float32 and given the same weights (mixed precision
keeps its variables in float32 already, so nothing is lost) before it is exported.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.core.errors import ExportError

MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")
REPRESENTATIVE_IMAGES = 200  # the int8 converter's calibration sample, drawn from train
KERAS_FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}


def _float32_config(value: Any) -> Any:
    """A model config with every mixed or half dtype policy replaced by float32."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {key: _float32_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if isinstance(value, str) and value in MIXED_POLICIES:
        return "float32"
    return value


def as_float32(model: Any) -> Any:
    """``model`` itself when it computes in float32; otherwise a float32 copy of it."""
    import keras

    from fer_core.training.models import register_layers

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    with keras.dtype_policies.policy_scope("float32") if hasattr(
            keras.dtype_policies, "policy_scope") else contextlib.nullcontext():
        copy = keras.Model.from_config(_float32_config(model.get_config()),
                                       custom_objects=register_layers())
    copy.set_weights([np.asarray(w, dtype=np.float32) for w in model.get_weights()])
    return copy


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

