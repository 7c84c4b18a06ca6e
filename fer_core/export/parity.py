"""The proof that an export agrees with its model: the same test images through Keras and
through the export's own runtime, compared image by image, and the targets each must meet.

| exports       | max prob difference | top-1 agreement | other                                  |
| float formats | at most 1e-4        | 100%            |                                        |
| int8          |                     | at least 99%    | accuracy within 1 point; <= 30% size   |
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.export.runtimes import Runtime

FLOAT_MAX_DIFF = 1e-4
FLOAT_AGREEMENT = 1.0
INT8_AGREEMENT = 0.99
INT8_ACCURACY_DROP = 0.01
INT8_SIZE_SHARE = 0.30


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file in a folder (a SavedModel)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def score(fmt: str, path: Path, runtime: Runtime, images: np.ndarray, labels: np.ndarray,
          reference: np.ndarray) -> dict[str, Any]:
    """One ``export.json`` entry: ``images`` (N, 48, 48) through ``runtime``, against the
    Keras model's ``reference`` probabilities. Throughput is timed after a warm-up batch."""
    x = images[..., None].astype(np.float32)
    runtime(x[:8])  # first call: graph building, tensor allocation
    started = time.perf_counter()
    proba = np.asarray(runtime(x), dtype=np.float32)
    seconds = max(time.perf_counter() - started, 1e-9)
    picked, expected = proba.argmax(axis=1), reference.argmax(axis=1)
    return {
        "format": fmt, "file": Path(path).name, "bytes": size_of(path), "images": int(len(x)),
        "max_abs_diff": float(np.abs(proba - reference).max()),
        "top1_agreement": float((picked == expected).mean()),
        "accuracy": float((picked == labels).mean()),
        "keras_accuracy": float((expected == labels).mean()),
        "images_per_s": round(len(x) / seconds, 1),
    }


def judge(entry: dict[str, Any], *, float_bytes: int | None = None) -> dict[str, Any]:
    """The entry with ``target_met`` and, for each miss, why (``misses``)."""
    misses = []
    if entry["format"] == "tflite-int8":
        if entry["top1_agreement"] < INT8_AGREEMENT:
            misses.append(f"top-1 agreement {entry['top1_agreement']:.2%} < 99%")
        drop = entry["keras_accuracy"] - entry["accuracy"]
        if drop > INT8_ACCURACY_DROP:
            misses.append(f"accuracy {drop * 100:.2f} points below the float model (max 1)")
        if float_bytes:
            share = entry["bytes"] / float_bytes
            entry = {**entry, "float_bytes": float_bytes, "size_share": round(share, 4)}
            if share > INT8_SIZE_SHARE:
                misses.append(f"{share:.0%} of the float file's size (max 30%)")
    else:
        if entry["max_abs_diff"] > FLOAT_MAX_DIFF:
            misses.append(f"max probability difference {entry['max_abs_diff']:.1e} > 1e-4")
        if entry["top1_agreement"] < FLOAT_AGREEMENT:
            misses.append(f"top-1 agreement {entry['top1_agreement']:.2%} < 100%")
    return {**entry, "target_met": not misses, "misses": misses}
