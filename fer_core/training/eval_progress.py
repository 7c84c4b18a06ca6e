"""Progress of the final evaluation, so a job's card keeps moving after its last epoch: with
ten-view test-time augmentation it is twenty prediction passes, minutes on two CPU cores."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras

from fer_core import runs

STAGE = "evaluating"


def evaluation_batches(sizes: list[int], *, views: int, batch_size: int) -> int:
    """How many predict batches evaluating splits of these sizes takes, over ``views`` views."""
    return sum(views * math.ceil(n / batch_size) for n in sizes if n)


class EvaluationProgress(keras.callbacks.Callback):
    """Counts predict batches across predict calls; writes progress every ``every_seconds``."""

    def __init__(self, run_dir: Path, total_batches: int, *, every_seconds: float = 2.0
                 ) -> None:
        super().__init__()
        self.run_dir, self.total, self.every = Path(run_dir), max(total_batches, 1), every_seconds
        self.done = 0
        self._base = runs.read_status(self.run_dir).progress.to_json()
        self._started = time.monotonic()
        self._last_write = -math.inf

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.done += 1
        now = time.monotonic()
        if self.done < self.total and now - self._last_write < self.every:
            return
        self._last_write = now
        rate = self.done / max(now - self._started, 1e-6)
        runs.report_progress(self.run_dir, {
            **self._base, "stage": STAGE, "step": min(self.done, self.total),
            "steps": self.total, "eta_seconds": round((self.total - self.done) / rate, 1),
        })
