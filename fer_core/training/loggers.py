"""Where a run's progress goes while it trains (the run folder, TensorBoard, MLflow): each a
logger behind one small interface, so the trainer knows nothing of what a logger does."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fer_core import runs

log = logging.getLogger("fer_core.training")

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras' numbers in a history row


class RunLogger:
    """What the trainer tells a logger; each overrides the calls it cares about."""

    def on_phase(self, phase: int, start: int, steps: int) -> None:
        """A phase's fit begins: ``start`` epochs of the run were done before it."""

    def on_step(self, step: int, logs: Mapping[str, Any]) -> None:
        """A batch ended (``step`` 0: an epoch begins). Called often: keep it cheap."""

    def on_epoch(self, row: dict[str, Any]) -> None:
        """An epoch ended; ``row`` is its history row (phase, run-wide epoch, metrics)."""

    def on_end(self, state: str) -> dict[str, Any]:
        """The run ended as ``state``; return status fields to record (MLflow's run id)."""
        return {}


class Loggers(RunLogger):
    """Every logger of a run, called in turn; a logger's end never fails the run."""

    def __init__(self, *loggers: RunLogger | None) -> None:
        self.loggers: list[RunLogger] = []
        self.add(*loggers)

    def add(self, *loggers: RunLogger | None) -> None:
        self.loggers += [each for each in loggers if each is not None]

    def on_phase(self, phase: int, start: int, steps: int) -> None:
        for each in self.loggers:
            each.on_phase(phase, start, steps)

    def on_step(self, step: int, logs: Mapping[str, Any]) -> None:
        for each in self.loggers:
            each.on_step(step, logs)

    def on_epoch(self, row: dict[str, Any]) -> None:
        for each in self.loggers:
            each.on_epoch(row)

    def on_end(self, state: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for each in self.loggers:
            try:
                fields.update(each.on_end(state))
            except Exception as err:  # the model is trained: a logger cannot undo that
                log.warning("%s failed at the end: %s: %s", type(each).__name__,
                            type(err).__name__, err)
        return fields


class RunFolderLogger(RunLogger):
    """History rows, each epoch's log line and ``status.json`` progress (at most every
    ``every_seconds``): the app follows a job only through its run folder."""

    def __init__(self, run_dir: Path, clock: Any, *, every_seconds: float = 2.0) -> None:
        self.run_dir, self.clock, self.every = run_dir, clock, every_seconds
        self.phase, self.steps = 0, 1
        self._last_write = 0.0
        self._latest: dict[str, float] = {}

    def on_phase(self, phase: int, start: int, steps: int) -> None:
        self.phase, self.steps = phase, steps

    def on_step(self, step: int, logs: Mapping[str, Any]) -> None:
        if step and time.monotonic() - self._last_write < self.every:
            return
        if logs:
            self._latest = {k: float(v) for k, v in logs.items()}
        self._write(step)

    def on_epoch(self, row: dict[str, Any]) -> None:
        runs.append_history(self.run_dir, row)
        self._latest = {k: row[k] for k in METRICS if row[k] is not None}
        log.info("phase %d epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f "
                 "(%.1f s)", row["phase"], row["epoch"], self.clock.total,
                 *(self._latest.get(k, math.nan) for k in METRICS), row["seconds"])
        self._write(self.steps)

    def _write(self, step: int) -> None:
        now = self._last_write = time.monotonic()
        done = self.clock.done + step / self.steps if step < self.steps else self.clock.done
        elapsed, total = now - self.clock.started, self.clock.total
        eta = elapsed / done * (total - done) if done > 0 else None
        runs.report_progress(self.run_dir, {
            "phase": self.phase, "epoch": min(self.clock.done + 1, total), "epochs": total,
            "step": step, "steps": self.steps, "fraction": round(done / max(total, 1), 4),
            "eta_seconds": round(eta, 1) if eta is not None else None,
            "metrics": {k: round(v, 5) for k, v in self._latest.items()},
        })


class TensorBoardLogger(RunLogger):
    """Scalars once per epoch, as Keras' own callback lays them out. Without the optional
    ``tensorboard`` package :meth:`create` skips it rather than fail the run at its first epoch."""

    SCALARS = {"train": {"loss": "epoch_loss", "accuracy": "epoch_accuracy",
                         "learning_rate": "epoch_learning_rate"},
               "validation": {"val_loss": "epoch_loss", "val_accuracy": "epoch_accuracy"}}

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.start = 0
        self.writers: dict[str, Any] = {}

    @classmethod
    def create(cls, run_dir: Path) -> TensorBoardLogger | None:
        try:
            import tensorboard  # noqa: F401  (only whether it imports)
        except ImportError:
            log.info("TensorBoard skipped: the tensorboard package is not installed "
                     "(pip install tensorboard to get its event files).")
            return None
        return cls(runs.files(run_dir).tensorboard)

    def on_phase(self, phase: int, start: int, steps: int) -> None:
        import tensorflow as tf

        self.on_end("")  # closes the previous phase's writers
        self.start, folder = start, self.folder / f"phase{phase}"
        self.writers = {split: tf.summary.create_file_writer(str(folder / split))
                        for split in self.SCALARS}

    def on_epoch(self, row: dict[str, Any]) -> None:
        import tensorflow as tf

        for split, names in self.SCALARS.items():
            with self.writers[split].as_default():
                for column, name in names.items():
                    if row.get(column) is not None:
                        tf.summary.scalar(name, row[column], step=row["epoch"] - self.start - 1)
            self.writers[split].flush()

    def on_end(self, state: str) -> dict[str, Any]:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
        return {}
