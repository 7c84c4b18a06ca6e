"""Each export scored in the runtime a deployment would use: TensorFlow loading the
SavedModel, onnxruntime, and the LiteRT (``ai-edge-litert``) interpreter. A runtime that is not
installed raises :class:`ExportError` naming the package to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.core.errors import ExportError

Runtime = Callable[[np.ndarray], np.ndarray]
BATCH = 256


def _module(name: str, package: str, purpose: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ExportError(f"Checking the {purpose} export needs the '{package}' package, which "
                          f"is not installed. Install it with: pip install {package} (or "
                          "pip install -r requirements.txt).") from err


def load(fmt: str, path: Path) -> Runtime:
    loaders = {"savedmodel": _savedmodel, "onnx": _onnx, "tflite": _litert_file,
               "tflite-int8": _litert_file}
    return loaders[fmt](Path(path))


def load_flatbuffer(content: bytes) -> Runtime:
    """The scoring function of a LiteRT flatbuffer still in memory: a candidate conversion is
    checked before anything is written."""
    return _litert(model_content=content)


def _batched(run_batch: Runtime) -> Runtime:
    def run(images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        return np.concatenate([run_batch(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])
    return run


def _savedmodel(path: Path) -> Runtime:
    tf = _module("tensorflow", "tensorflow", "SavedModel")
    loaded = tf.saved_model.load(str(path))
    return _batched(lambda x: np.asarray(loaded.serve(tf.constant(x))))


def _onnx(path: Path) -> Runtime:
    ort = _module("onnxruntime", "onnxruntime", "ONNX")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return _batched(lambda x: session.run(None, {name: x})[0])


def _litert_file(path: Path) -> Runtime:
    return _litert(model_path=str(path))


def _litert(**model: Any) -> Runtime:
    """``model``: LiteRT's ``model_path=`` (a file) or ``model_content=`` (bytes)."""
    litert = _module("ai_edge_litert.interpreter", "ai-edge-litert", "LiteRT")
    interpreter = litert.Interpreter(**model)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape: list[int] = []

    def run_batch(x: np.ndarray) -> np.ndarray:
        if list(x.shape) != shape:  # resize only when the batch size changes
            interpreter.resize_tensor_input(source["index"], list(x.shape))
            interpreter.allocate_tensors()
            shape[:] = list(x.shape)
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"]).copy()

    return _batched(run_batch)
