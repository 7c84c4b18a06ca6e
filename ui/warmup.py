"""Import TensorFlow in the background once Explore has been drawn: its Augmentation tab's first
draw would otherwise wait ~9 s for the import. One thread per process, at most once."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading

import numpy as np

_lock = threading.Lock()
_thread: threading.Thread | None = None
# Imported first where installed: pylibsrtp segfaults when imported after TensorFlow (app.py).
_BEFORE_TENSORFLOW = ("pylibsrtp",)


def warm_tensorflow() -> threading.Thread | None:
    """Start importing TensorFlow and drawing one augmentation, unless already done."""
    global _thread
    with _lock:
        if _thread is not None or "keras.src.layers" in sys.modules:
            return _thread
        _thread = threading.Thread(target=_warm, name="fer-warm-tensorflow", daemon=True)
        _thread.start()
        return _thread


def _warm() -> None:
    for name in _BEFORE_TENSORFLOW:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    from fer_core.core.config import TrainConfig
    from fer_core.training.augment import augment_preview

    augment_preview(np.zeros((48, 48), np.uint8), TrainConfig(), n=1, seed=0)
