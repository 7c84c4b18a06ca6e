"""Keras callbacks that keep the run folder current while a job trains.

The app follows a job only through its run folder, so progress, history and the best model
must land there during training, atomically, and cheaply: status is written at most every
couple of seconds, never per step.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from fer_core import runs
from fer_core.atomic import atomic_path

log = logging.getLogger("fer_core.training")


@dataclass
class StopFlag:
    """Set by SIGTERM/SIGINT; training finishes the current step, saves and stops."""

    requested: bool = False

    def install(self) -> None:
        """Handle SIGTERM and SIGINT (main thread only: Python's rule for signal handlers)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame) -> None:
            self.requested = True
            log.info("Stop requested (signal %d): finishing the current step.", signum)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


@dataclass
class BestTracker:
    """The best validation accuracy across both phases, so phase 2 only saves improvements."""

    value: float = -math.inf
    epoch: int = 0
    saved: bool = False


@dataclass
class EpochClock:
    """Global epoch numbering across phases, for history rows and progress."""

    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)


class RunProgress(keras.callbacks.Callback):
    """Writes progress to ``status.json``, one history row per epoch, and checks for a stop."""

    def __init__(
        self,
        run_dir: Path,
        *,
        phase: int,
        steps_per_epoch: int,
        clock: EpochClock,
        stop: StopFlag,
        every_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.phase = phase
        self.steps = steps_per_epoch
        self.clock = clock
        self.stop = stop
        self.every = every_seconds
        self._last_write = 0.0
        self._epoch_start = time.monotonic()
        self._latest: dict[str, float] = {}

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_start = time.monotonic()
        self._write(step=0, force=True)

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.stop.requested:
            self.model.stop_training = True
        if time.monotonic() - self._last_write >= self.every:
            self._latest = {k: float(v) for k, v in (logs or {}).items()}
            self._write(step=batch + 1)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.clock.done += 1
        row = {
            "phase": self.phase,
            "epoch": self.clock.done,
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "val_loss": logs.get("val_loss"),
            "val_accuracy": logs.get("val_accuracy"),
            "learning_rate": _current_lr(self.model),
            "seconds": round(time.monotonic() - self._epoch_start, 2),
        }
        runs.append_history(self.run_dir, row)
        self._latest = logs
        log.info(
            "phase %d epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f "
            "(%.1f s)", self.phase, self.clock.done, self.clock.total, row["loss"] or math.nan,
            row["accuracy"] or math.nan, row["val_loss"] or math.nan,
            row["val_accuracy"] or math.nan, row["seconds"],
        )
        self._write(step=self.steps, force=True)
        if self.stop.requested:
            self.model.stop_training = True

    def _write(self, *, step: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.every:
            return
        self._last_write = now
        epochs_done = self.clock.done + step / max(self.steps, 1) if step < self.steps else (
            self.clock.done
        )
        elapsed = now - self.clock.started
        remaining = self.clock.total - epochs_done
        eta = elapsed / epochs_done * remaining if epochs_done > 0 else None
        runs.report_progress(
            self.run_dir,
            {
                "phase": self.phase,
                "epoch": min(self.clock.done + 1, self.clock.total),
                "epochs": self.clock.total,
                "step": step,
                "steps": self.steps,
                "fraction": round(epochs_done / max(self.clock.total, 1), 4),
                "eta_seconds": round(eta, 1) if eta is not None else None,
                "metrics": {k: round(v, 5) for k, v in self._latest.items()},
            },
        )


class BestModelSaver(keras.callbacks.Callback):
    """Save ``model_to_save`` atomically when validation accuracy improves.

    Keras' ``ModelCheckpoint`` writes the file in place, so a reader (or a crash) can meet
    half a file; and in phase 1 with cached features the model being fitted is only the head,
    while the model worth saving is the full one that shares its weights.
    """

    def __init__(self, path: Path, model_to_save: keras.Model, best: BestTracker,
                 clock: EpochClock) -> None:
        super().__init__()
        self.path = path
        self.model_to_save = model_to_save
        self.best = best
        self.clock = clock

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is None or float(value) <= self.best.value:
            return
        self.best.value, self.best.epoch = float(value), self.clock.done
        save_model(self.model_to_save, self.path)
        self.best.saved = True


def save_model(model: keras.Model, path: Path) -> None:
    with atomic_path(path.with_suffix(".keras")) as tmp:
        keras_tmp = tmp.with_name(tmp.name + ".keras")  # Keras insists on the extension
        model.save(keras_tmp)
        keras_tmp.replace(tmp)


def _current_lr(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None
