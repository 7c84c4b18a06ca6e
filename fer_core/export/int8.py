"""Post-training int8 LiteRT, with the few small layers that cannot take it kept in float.

Full int8 changes the top class of 1-2% of FER faces, those near a tie between two classes.
``QuantizationDebugger`` ranks the layers by quantisation error, and the worst are kept in float
until the agreement is back, passing over any too big for the size target (fer-vgg's dense layer:
63% of the float file, no better agreement). Measured in docs/export.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fer_core.export.parity import INT8_SIZE_SHARE

AGREEMENT_GOAL = 0.995  # on validation images: a margin above the 99% the test split must reach
MAX_FLOAT_LAYERS = 3  # beyond that the file grows and the model is no longer an int8 model
MAX_TRIES = 6  # conversions tried in all; each takes a few seconds


def convert(model: Any, representative: np.ndarray, check_images: np.ndarray | None = None,
            ) -> tuple[bytes, list[str]]:
    """The int8 flatbuffer and the names of the layers kept in float (none when full int8
    already agrees with the Keras model on ``check_images`` to :data:`AGREEMENT_GOAL`)."""
    import tensorflow as tf

    converter = _converter(model, representative)
    full = converter.convert()
    if check_images is None or not len(check_images):
        return full, []
    reference = model.predict(check_images[..., None].astype(np.float32), batch_size=256,
                              verbose=0).argmax(axis=1)
    best = (_agreement(full, check_images, reference), full, [])
    if best[0] >= AGREEMENT_GOAL:
        return full, []
    dataset, debug = _samples(representative[:100]), tf.lite.experimental
    debugger = debug.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    debugger.run()
    max_bytes, kept = INT8_SIZE_SHARE * model.count_params() * 4, []
    for name in _worst_layers(debugger)[:MAX_TRIES]:
        options = debug.QuantizationDebugOptions(denylisted_nodes=[*kept, name])
        flat = debug.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                          debug_options=options).get_nondebug_quantized_model()
        if len(flat) > max_bytes:
            continue  # too big a layer to keep in float: the file would miss its size target
        kept.append(name)
        agreement = _agreement(flat, check_images, reference)
        if agreement > best[0]:
            best = (agreement, flat, list(kept))
        if agreement >= AGREEMENT_GOAL or len(kept) == MAX_FLOAT_LAYERS:
            break
    return best[1], best[2]


def _converter(model: Any, representative: np.ndarray) -> Any:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _samples(representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def _samples(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    def samples() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [image[None, ..., None].astype(np.float32)]
    return samples


def _worst_layers(debugger: Any) -> list[str]:
    """Tensor names, the largest quantisation error (RMSE over scale) first."""
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = list(csv.DictReader(io.StringIO(dump.getvalue())))

    def error(row: dict[str, str]) -> float:
        scale = float(row.get("scale") or 0)
        return float(row.get("mean_squared_error") or 0) ** 0.5 / scale if scale else 0.0

    return [row["tensor_name"] for row in sorted(rows, key=error, reverse=True)
            if error(row) > 0]


def _agreement(flat: bytes, images: np.ndarray, reference: np.ndarray) -> float:
    """Share of ``images`` whose top class the flatbuffer agrees on, in LiteRT itself."""
    from fer_core.export import runtimes

    proba = runtimes.load_flatbuffer(flat)(images[..., None].astype(np.float32))
    return float(np.mean(np.asarray(proba).argmax(axis=1) == reference))
