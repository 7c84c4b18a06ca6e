"""``fit(config, run_dir, data)``: the model trained into ``run_dir``, and nothing else.

Phase 1 and phase 2 (fine-tuning) are two calls of one fit step, with a :class:`Trainer` owning
what lasts across them. Evaluation and tracking are the ``train`` task's, so the suspect labels'
folds call ``fit`` alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_core import runs
from fer_core.core.config import TrainConfig
from fer_core.core.signals import StopFlag
from fer_core.training import resume
from fer_core.training.augment import build_augmenter
from fer_core.training.budget import MAX_EPOCHS, BudgetPlanner
from fer_core.training.inputs import (
    PreparedData,
    Split,
    balanced_class_weights,
    labelled,
    make_dataset,
)
from fer_core.training.loggers import Loggers, RunFolderLogger
from fer_core.training.models import FerModel, build_model, load_model, unfreeze_top

if TYPE_CHECKING:  # the callbacks import Keras, which takes seconds
    from fer_core.training.callbacks import BestTracker, EpochClock

log = logging.getLogger("fer_core.training")


@dataclass(frozen=True)
class Fitted:
    """What a fit leaves besides its files: the best model, loaded, and how the fit went."""

    model: Any  # keras.Model: the best epoch's, or the model as it was if none finished
    epochs: int  # epochs that ran, both phases together
    best_epoch: int
    cancelled: bool  # stopped by a signal: the best model so far is kept


def fit(config: TrainConfig, run_dir: Path, data: PreparedData, *, stop: StopFlag,
        loggers: Loggers | None = None, started: float | None = None) -> Fitted:
    """Train ``config``'s model and save the best epoch's in ``run_dir``; call it inside
    ``device.configured``. A time budget counts from ``started`` (``time.monotonic()``)."""
    from fer_core.training.callbacks import BestTracker, EpochClock

    run_dir = Path(run_dir)
    clock = EpochClock(total=config.epochs + config.finetune_epochs)
    loggers = loggers or Loggers()
    loggers.loggers.insert(0, RunFolderLogger(run_dir, clock))
    fer = build_model(config.backbone, num_classes=len(data.classes), input_size=config.input_size,
                      weights=config.weights, dropout=config.dropout, seed=config.seed)
    trainer = Trainer(config, run_dir, data, fer, stop, loggers, BestTracker(), clock,
                      budget=_budget(config, data, time.monotonic() if started is None
                                     else started))
    trainer.run()
    return Fitted(trainer.best_model(), clock.done, trainer.best.epoch, stop.requested)


@dataclass(frozen=True)
class PhaseSpec:
    """One call of the fit step: phase, epochs, rate, what it trains and on which data."""

    number: int
    epochs: int
    learning_rate: float
    target: Any  # keras.Model
    train: Any  # tf.data.Dataset of batches
    val: Any


@dataclass
class Trainer:
    """What lasts across the phases of one run."""

    config: TrainConfig
    run_dir: Path
    data: PreparedData
    fer: FerModel
    stop: StopFlag
    loggers: Loggers
    best: BestTracker
    clock: EpochClock
    budget: BudgetPlanner | None = None  # a time budget: its callback sets the epochs

    @property
    def model_path(self) -> Path:
        return runs.files(self.run_dir).model

    @property
    def steps(self) -> int:
        return max(len(self.data.train) // self.config.batch_size, 1)

    def run(self) -> None:
        """Phase 1 (unless a resumed job finished it before), then phase 2."""
        config = self.config
        done = resume.phase_done(self.run_dir, 1)
        if done is not None:
            log.info("Resuming after phase 1 (%d epochs done).", done.epochs)
            self.clock.done = done.epochs
            self.best.value, self.best.epoch = done.best_value, done.best_epoch
            self.best.saved = self.model_path.exists()
        elif config.epochs > 0:
            self.fit_phase(self.phase_one())
            if not self.stop.requested:
                resume.mark_phase_done(self.run_dir, 1, resume.PhaseDone(
                    self.clock.done, self.best.value, self.best.epoch))
        if config.finetune_epochs > 0 and not self.stop.requested:
            self.fit_phase(self.phase_two())

    def phase_one(self) -> PhaseSpec:
        """Train the head (frozen pre-trained backbone) or the whole network (from scratch)."""
        config, fer = self.config, self.fer
        augmenter = build_augmenter(config, seed=config.seed)
        spec = (1, config.epochs, config.learning_rate)
        if config.cache_features and fer.frozen and augmenter is None and config.mixup == 0:
            log.info("Phase 1: computing frozen backbone features once, then training the head.")
            return PhaseSpec(*spec, fer.head, *_feature_datasets(
                config, fer, self.data, _class_weights(config, self.data)))
        log.info("Phase 1: training %s end to end on augmented batches.",
                 "the head" if fer.frozen else "the whole network")
        return PhaseSpec(*spec, fer.model, *self._datasets(config.seed, augmenter))

    def phase_two(self) -> PhaseSpec:
        """Fine-tune: unfreeze the top of the backbone and train end to end at a low rate."""
        config, seed = self.config, self.config.seed + 1
        if self.best.saved:  # continue from the best phase-1 weights, not the last epoch's
            self.fer.model.set_weights(load_model(self.model_path).get_weights())
        unfrozen = unfreeze_top(self.fer, config.unfreeze_layers)
        log.info("Phase 2: fine-tuning with %d backbone layers unfrozen.", unfrozen)
        return PhaseSpec(2, config.finetune_epochs, config.finetune_learning_rate, self.fer.model,
                         *self._datasets(seed, build_augmenter(config, seed=seed)))

    def fit_phase(self, phase: PhaseSpec) -> None:
        """The fit step of both phases: compile, take up a crashed attempt's backup, fit."""
        import keras

        from fer_core.training.callbacks import BestModelSaver, EpochReporter, PhaseBackup

        config, start = self.config, self.clock.done
        _compile(phase.target, config, lr=phase.learning_rate,
                 total_steps=None if self.budget else self.steps * phase.epochs)
        restored = self._resume(phase, start)
        self.loggers.on_phase(phase.number, start, self.steps)
        callbacks: list[keras.callbacks.Callback] = [
            EpochReporter(self.loggers, phase=phase.number, clock=self.clock, stop=self.stop),
            # After the history row (a crash between the two loses the row with the epoch),
            # and before the EMA swap: the backup holds the raw weights.
            PhaseBackup(self.run_dir, phase.number),
            # Keras swaps the averaged weights in at each epoch's end and out at the next start
            # (and writes them in for good when fit ends): validation scores the average, and
            # so the saver after it must save it.
            *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema_momentum
              else []),
            BestModelSaver(self.model_path, self.fer.model, self.best, self.clock),
        ]
        if config.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience))
        if config.lr_schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=config.reduce_lr_factor,
                patience=config.reduce_lr_patience, min_lr=1e-7))
        if self.budget is not None:  # last: its epoch time includes the saving above
            callbacks.append(self._budget_callback(phase))
        phase.target.fit(phase.train, validation_data=phase.val, initial_epoch=restored,
                         epochs=MAX_EPOCHS if self.budget else phase.epochs,
                         callbacks=callbacks, verbose=0,
                         shuffle=False)  # the pipeline shuffles; Keras cannot shuffle tf.data

    def _budget_callback(self, phase: PhaseSpec) -> Any:
        from fer_core.training.budget_callback import BudgetCallback

        config = self.config
        return BudgetCallback(
            self.budget, run_dir=self.run_dir, phase=phase.number, planned=phase.epochs,
            steps_per_epoch=self.steps, clock=self.clock,
            later_epochs=config.finetune_epochs if phase.number == 1 else 0,
            cosine_lr=phase.learning_rate if config.lr_schedule == "cosine" else None,
            val_images=len(self.data.val))

    def best_model(self) -> Any:
        """The best checkpoint; if no epoch finished (cancelled early) the model as it is."""
        from fer_core.training.callbacks import save_model

        if self.best.saved:
            return load_model(self.model_path)
        save_model(self.fer.model, self.model_path)
        return self.fer.model

    def _resume(self, phase: PhaseSpec, start: int) -> int:
        """Load the phase's backup if a crashed attempt left one, and bring history, clock and
        best-so-far in line with it; return the epochs of the phase already done."""
        restored = resume.restore(phase.target, self.run_dir, phase.number)
        history = resume.align_history(self.run_dir, keep_through_epoch=start + restored)
        if restored:
            log.info("Resuming phase %d after epoch %d from its backup.", phase.number,
                     restored)
            self.clock.done = start + restored
            earlier = history["val_accuracy"].dropna()
            if len(earlier) and self.model_path.exists():
                self.best.value, self.best.saved = float(earlier.max()), True
                self.best.epoch = int(history.loc[earlier.idxmax(), "epoch"])
        return restored

    def _datasets(self, seed: int, augmenter: Any) -> tuple[Any, Any]:
        """Training batches (shuffled and augmented with ``seed``) and the validation set."""
        config, n_classes = self.config, len(self.data.classes)
        train = make_dataset(self.data.train, num_classes=n_classes, batch_size=config.batch_size,
                             training=True, seed=seed, augmenter=augmenter, mixup=config.mixup,
                             class_weights=_class_weights(config, self.data))
        val = make_dataset(self.data.val, num_classes=n_classes,
                           batch_size=max(config.batch_size, 128), training=False)
        return train, val


def _compile(model, config: TrainConfig, *, lr: float, total_steps: int | None) -> None:
    """``total_steps`` None: a time budget's callback steers the rate (its length changes)."""
    import keras

    schedule: Any = lr
    if config.lr_schedule == "cosine" and total_steps is not None:
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1))
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum else {}
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                         weight_decay=config.weight_decay or None, **ema)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, **ema)
    else:
        optimizer = keras.optimizers.Adam(schedule, **ema)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def _budget(config: TrainConfig, data: PreparedData, started: float) -> BudgetPlanner | None:
    if not config.time_budget_min:
        return None
    log.info("Time budget: %g min for training and evaluation; the speed measured in the "
             "first epochs sets the epochs.", config.time_budget_min)
    return BudgetPlanner.create(config, started=started, val_images=len(data.val),
                                test_images=len(data.test))


def _feature_datasets(config, fer, data: PreparedData, weights):
    """Run the frozen backbone once over train and val; the head then trains in seconds."""
    import tensorflow as tf

    def features(split: Split) -> np.ndarray:
        batches = make_dataset(split, num_classes=n_classes, batch_size=128, training=False)
        return fer.features.predict(batches, verbose=0).astype(np.float32)

    n_classes = len(data.classes)
    train = tf.data.Dataset.from_tensor_slices(
        labelled(features(data.train), data.train.labels, n_classes, weights,
                 targets=data.train.targets))
    val = tf.data.Dataset.from_tensor_slices(
        labelled(features(data.val), data.val.labels, n_classes, targets=data.val.targets))
    train = train.shuffle(len(data.train), seed=config.seed).batch(config.batch_size)
    return train.prefetch(tf.data.AUTOTUNE), val.batch(256)


def _class_weights(config: TrainConfig, data: PreparedData) -> np.ndarray | None:
    if config.class_weights != "balanced":
        return None
    return balanced_class_weights(data.train.labels, len(data.classes))
