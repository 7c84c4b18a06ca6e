"""The Keras side of a time budget. A budgeted phase is fitted with a generous epoch limit and
this callback stops it, as ``fit`` cannot be given a new number of epochs while it runs; it
also steps the cosine schedule itself, as a Keras ``LearningRateSchedule`` is fixed once built.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from fer_core.training.budget import (
    RECENT_EPOCHS,
    BudgetPlanner,
    CosineMap,
    describe,
    refit_epoch,
    untraced_seconds,
    write_record,
)
from fer_core.training.callbacks import EpochClock

log = logging.getLogger("fer_core.training")


@dataclass
class _Pass:
    """One training or validation pass: when it began, when its first batch ended, batches."""

    start: float = 0.0
    first_batch_end: float = 0.0
    last_batch_end: float = 0.0
    batches: int = 0

    def begin(self, now: float) -> None:
        self.start, self.batches = now, 0

    def batch_end(self, now: float) -> None:
        self.batches += 1
        if self.batches == 1:
            self.first_batch_end = now
        self.last_batch_end = now

    def untraced(self) -> float:
        """This pass's seconds without the first batch's graph tracing."""
        steady = untraced_seconds(self.last_batch_end - self.first_batch_end, self.batches)
        return self.last_batch_end - self.start if steady is None else steady


class BudgetCallback(keras.callbacks.Callback):
    """Plans one phase of a budgeted run; goes last, so an epoch's time includes the saving."""

    def __init__(self, planner: BudgetPlanner, *, run_dir: Path, phase: int, planned: int,
                 steps_per_epoch: int, clock: EpochClock, later_epochs: int,
                 cosine_lr: float | None, val_images: int) -> None:
        super().__init__()
        self.planner, self.run_dir, self.phase = planner, run_dir, phase
        self.planned, self.clock = max(planned, 1), clock
        self.later_epochs = later_epochs  # the next phase's epochs, for the progress bar
        self.val_images = val_images
        self.cosine = (CosineMap(cosine_lr, self.planned * steps_per_epoch)
                       if cosine_lr is not None else None)
        self.first_epoch = clock.done  # the global epoch count this phase started from
        self.durations: list[float] = []  # each epoch, from the last one's end to its own
        self.val_durations: list[float] = []
        self.first_untraced: tuple[float, float] | None = None  # epoch 1, its validation
        self.saving: list[float] = []  # each epoch after validation: saving the best model
        self.step = 0
        self.refit_at: int | None = None
        self._train, self._val = _Pass(), _Pass()
        self._mark = time.monotonic()

    # --- timing ----------------------------------------------------------------------------------

    def on_train_begin(self, logs=None) -> None:
        self._mark = time.monotonic()
        if self.phase == 1:
            self.planner.training_started = self._mark
        self._show_total()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._train.begin(self._mark)

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        if self.cosine is not None:
            self.model.optimizer.learning_rate.assign(self.cosine.learning_rate(self.step))
        self.step += 1

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._train.batch_end(time.monotonic())

    def on_test_begin(self, logs=None) -> None:
        self._val.begin(time.monotonic())

    def on_test_batch_end(self, batch: int, logs=None) -> None:
        self._val.batch_end(time.monotonic())

    def on_test_end(self, logs=None) -> None:
        self.val_durations.append(time.monotonic() - self._val.start)

    def _epoch_seconds(self) -> list[float]:
        """The epochs for the planner: the first alone counts without its tracing."""
        if len(self.durations) == 1 and self.first_untraced is not None:
            return [self.first_untraced[0]]
        return self.durations

    def _evaluation_seconds(self) -> float:
        if not self.val_durations:
            return self.planner.evaluation_seconds(val_images=0, val_seconds=None)
        later = self.val_durations[1:]
        steady = (sum(later) / len(later) if later
                  else self.first_untraced[1] if self.first_untraced else self.val_durations[0])
        # Evaluation traces the reloaded model anew, as the first validation did, and loading
        # it takes about what saving it did.
        return self.planner.evaluation_seconds(
            val_images=self.val_images, val_seconds=steady,
            tracing_seconds=max(self.val_durations[0] - steady, 0.0)
            + (max(self.saving) if self.saving else 0.0))

    # --- planning --------------------------------------------------------------------------------

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.monotonic()
        self.durations.append(now - self._mark)
        if self.val_durations:
            self.saving.append(max(now - self._val.start - self.val_durations[-1], 0.0))
        done = len(self.durations)
        if done == 1:
            self.first_untraced = self._untraced_first_epoch(now)
            self._replan(now, "fitted to the first epoch, its tracing left out")
        elif done == self.refit_at:
            self._replan(now, "fitted again a quarter of the way, at the steady speed")
        elif self.refit_at is not None and done > self.refit_at:
            self._replan(now, "the speed changed", recent=RECENT_EPOCHS)
        if done >= self.planned:
            self.model.stop_training = True
        self._mark = time.monotonic()  # the planning and its record count in the next epoch

    def _untraced_first_epoch(self, now: float) -> tuple[float, float]:
        """Epoch 1 and its validation as they would take at the steady speed: each pass
        without its first batch, plus the rest (saving, the gap before validation)."""
        train, val = self._train.untraced(), self._val.untraced()
        val_end = self._val.start + (self.val_durations[-1] if self.val_durations else 0.0)
        rest = (now - val_end) + max(self._val.start - self._train.last_batch_end, 0.0)
        return train + val + rest if self.val_durations else train + rest, val

    def _replan(self, now: float, reason: str, *, recent: int | None = None) -> None:
        """Fit the epochs again; a refit after the quarter changes only a changed count."""
        decision = self.planner.plan(
            phase=self.phase, done=len(self.durations), now=now,
            durations=self._epoch_seconds(), evaluation_s=self._evaluation_seconds(),
            reason=reason, recent=recent, current=self.planned if recent else None)
        if decision is None:
            return
        if self.refit_at is None:
            self.refit_at = refit_epoch(decision.epochs)
        self._apply(decision.epochs)
        log.info(describe(decision))

    def _apply(self, epochs: int) -> None:
        """Make ``epochs`` the phase's length: the schedule, the progress bar, the record."""
        self.planned = epochs
        if self.cosine is not None:
            steps_per_epoch = max(self.step // max(len(self.durations), 1), 1)
            self.cosine.rescale(self.step, epochs * steps_per_epoch)
        self._show_total()
        write_record(self.run_dir, self.planner)

    def _show_total(self) -> None:
        self.clock.total = self.first_epoch + self.planned + self.later_epochs
