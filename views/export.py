"""The Results page's Export tab without Streamlit: format choices and the verdict (the table:
``fer_core.export.report``)."""

from __future__ import annotations

from typing import Any

from fer_core.export import FORMATS

CHOICES = ["all", *FORMATS]
LABELS = {"all": "all four", "savedmodel": "TensorFlow SavedModel", "onnx": "ONNX",
          "tflite": "LiteRT (TensorFlow Lite), float32",
          "tflite-int8": "LiteRT int8 (post-training quantisation)"}


def verdict(entries: list[dict[str, Any]]) -> tuple[bool, str]:
    """(all targets met, the sentence the page shows above the table)."""
    failed = [entry["format"] for entry in entries if not entry.get("target_met")]
    n = entries[0].get("images", 0) if entries else 0
    if failed:
        return False, (f"Target missed by {', '.join(failed)} (re-scored on {n:,} test images): "
                       "do not ship it without checking why.")
    return True, (f"Every export agrees with the Keras model within its target "
                  f"(re-scored on {n:,} test images in its own runtime).")
