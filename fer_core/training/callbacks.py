"""Keras callbacks of the trainer: the epoch clock, best model, backups and the stop flag."""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras

from fer_core.core.atomic import atomic_path
from fer_core.core.signals import StopFlag
from fer_core.training import resume
from fer_core.training.loggers import METRICS, Loggers

log = logging.getLogger("fer_core.training")


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


class EpochReporter(keras.callbacks.Callback):
    """The one callback that tells the loggers: each epoch's history row (numbered across
    phases by the clock), progress within an epoch, and a stop once one is requested."""

    def __init__(self, loggers: Loggers, *, phase: int, clock: EpochClock, stop: StopFlag
                 ) -> None:
        super().__init__()
        self.loggers, self.phase, self.clock, self.stop = loggers, phase, clock, stop
        self._epoch_start = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_start = time.monotonic()
        self.loggers.on_step(0, {})

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.stop.requested:
            self.model.stop_training = True
        self.loggers.on_step(batch + 1, logs or {})

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        self.clock.done += 1
        row = {"phase": self.phase, "epoch": self.clock.done,
               **{name: float(logs[name]) if name in logs else None for name in METRICS},
               "learning_rate": _current_lr(self.model),
               "seconds": round(time.monotonic() - self._epoch_start, 2)}
        self.loggers.on_epoch(row)
        if self.stop.requested:
            self.model.stop_training = True


class PhaseBackup(keras.callbacks.Callback):
    """Back up weights and optimizer state after every epoch, in one file named by its epoch,
    so the two never disagree. (Keras' ``BackupAndRestore`` cut a resumed run's next phase
    short: its private attribute outlives ``fit``.)"""

    def __init__(self, run_dir: Path, phase: int) -> None:
        super().__init__()
        self.run_dir, self.phase = run_dir, phase

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        path = resume.backup_path(self.run_dir, self.phase, epoch + 1)
        _save_atomically(path, self.model.save_weights)
        for older in resume.backups(self.run_dir, self.phase)[:-1]:
            older.unlink(missing_ok=True)

    def on_train_end(self, logs=None) -> None:
        shutil.rmtree(resume.backup_dir(self.run_dir, self.phase), ignore_errors=True)


class BestModelSaver(keras.callbacks.Callback):
    """Save ``model_to_save`` atomically when validation accuracy improves: Keras'
    ``ModelCheckpoint`` writes in place, and with cached features it would save the head only.
    """

    def __init__(self, path: Path, model_to_save: keras.Model, best: BestTracker,
                 clock: EpochClock) -> None:
        super().__init__()
        self.path, self.model_to_save, self.best, self.clock = path, model_to_save, best, clock

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is None or float(value) <= self.best.value:
            return
        self.best.value, self.best.epoch = float(value), self.clock.done
        save_model(self.model_to_save, self.path)
        self.best.saved = True


def save_model(model: keras.Model, path: Path) -> None:
    _save_atomically(path.with_suffix(".keras"), model.save)


def _save_atomically(path: Path, save: Callable[[Path], None]) -> None:
    with atomic_path(path) as tmp:
        named = tmp.with_name(tmp.name + "".join(path.suffixes))  # Keras wants its extension
        try:
            save(named)
            named.replace(tmp)
        finally:
            named.unlink(missing_ok=True)


def _current_lr(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None
