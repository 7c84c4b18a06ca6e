"""``train(config, run_dir)``: a TrainConfig in, a finished run folder out.

    python -m fer_core train --preset fast-cpu --run-dir runs/my-first-run

It reads top to bottom: seed and device, data, model, phase 1 (the backbone frozen when it
starts from pre-trained weights; its features computed once when nothing augments them),
phase 2 (fine-tuning the top of the backbone), reload the best model, evaluate, write.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import runs, settings
from fer_core.config import TrainConfig
from fer_core.data import Dataset
from fer_core.training import resume
from fer_core.training.inputs import (
    PreparedData,
    Split,
    balanced_class_weights,
    make_dataset,
    prepare_data,
)

log = logging.getLogger("fer_core.training")


def train(config: TrainConfig, run_dir: Path, *, dataset: Dataset | None = None) -> dict:
    """Train, evaluate and write the run folder; return the metrics.

    The status ends as ``succeeded``, ``cancelled`` (SIGTERM/SIGINT: the current step is
    finished and the best model so far is kept and evaluated) or ``failed`` with the error.
    """
    from fer_core.training.callbacks import StopFlag

    run_dir = Path(run_dir)
    if not runs.files(run_dir).config.exists():
        runs.create_run(config.to_dict(), run_dir=run_dir)
    handler = _log_to_run_folder(run_dir)
    stop = StopFlag()
    stop.install()
    runs.start(run_dir, pid=os.getpid())  # a job's worker already stamped the start time
    try:
        metrics = _train(config, run_dir, dataset, stop)
    except BaseException as err:
        log.exception("Training failed")
        runs.finish(run_dir, "failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        logging.getLogger("fer_core").removeHandler(handler)
        handler.close()
    shutil.rmtree(runs.files(run_dir).backup, ignore_errors=True)  # only a crashed run resumes
    state = "cancelled" if stop.requested else "succeeded"
    tracked = _track(run_dir, state)  # before the end is written: "succeeded" means all done
    runs.finish(run_dir, state, **tracked)
    log.info("Run %s %s.", run_dir.name, state)
    return metrics


def _track(run_dir: Path, state: str) -> dict[str, Any]:
    """Log the run to MLflow when ``MLFLOW_TRACKING_URI`` is set; a tracking server that is
    down costs a warning, never the trained model."""
    from fer_core import tracking

    if not tracking.enabled():
        return {}
    try:
        mlflow_id, _ = tracking.export_run(run_dir, state=state)
    except Exception as err:  # any MLflow failure must leave the run intact
        log.warning("MLflow logging failed: %s: %s", type(err).__name__, err)
        return {"mlflow_error": f"{type(err).__name__}: {err}"}
    log.info("Logged to MLflow as run %s.", mlflow_id)
    return {"mlflow_run_id": mlflow_id}


def _train(config: TrainConfig, run_dir: Path, dataset: Dataset | None, stop) -> dict:
    from fer_core import device

    policy = device.precision_policy(config.mixed_precision)
    with device.configured(policy=policy, seed=config.seed):
        return _train_with_policy(config, run_dir, dataset, stop, policy)


def _train_with_policy(config: TrainConfig, run_dir: Path, dataset: Dataset | None, stop,
                       policy: str) -> dict:
    from fer_core.runs.evaluation import evaluate_model
    from fer_core.training.callbacks import BestTracker, EpochClock

    started = time.monotonic()
    data = prepare_data(config, dataset)
    log.info("Data: %s; classes %s; train %d, val %d, test %d.", data.dataset.name,
             ", ".join(data.classes), len(data.train), len(data.val), len(data.test))
    _record_environment(run_dir, config, data, policy=policy)

    fer = _build(config, len(data.classes))
    best = BestTracker()
    clock = EpochClock(total=config.epochs + config.finetune_epochs)
    model_path = runs.files(run_dir).model

    finished_one = resume.phase_done(run_dir, 1)
    if finished_one is not None:  # a resumed job: phase 1 finished before the process died
        log.info("Resuming after phase 1 (%d epochs done).", finished_one.epochs)
        clock.done = finished_one.epochs
        best.value, best.epoch, best.saved = (finished_one.best_value, finished_one.best_epoch,
                                              model_path.exists())
    elif config.epochs > 0:
        _phase_one(config, fer, data, run_dir, best, clock, stop)
        if not stop.requested:
            resume.mark_phase_done(run_dir, 1, resume.PhaseDone(clock.done, best.value,
                                                                best.epoch))
    if config.finetune_epochs > 0 and not stop.requested:
        _phase_two(config, fer, data, run_dir, best, clock, stop)

    model = _best_model(fer, model_path, best)
    metrics = evaluate_model(
        model, data, run_dir=run_dir, tta=config.tta, shift=config.tta_shift,
        batch_size=max(config.batch_size, 128),
    )
    metrics.update(
        seconds=round(time.monotonic() - started, 1),
        epochs=clock.done,
        best_epoch=best.epoch,
        cancelled=stop.requested,
    )
    runs.write_metrics(run_dir, metrics)
    return metrics


def _build(config: TrainConfig, num_classes: int):
    from fer_core.training.models import build_model

    return build_model(
        config.backbone, num_classes=num_classes, input_size=config.input_size,
        weights=config.weights, dropout=config.dropout, seed=config.seed,
    )


def _phase_one(config, fer, data: PreparedData, run_dir, best, clock, stop) -> None:
    """Train the head (frozen pre-trained backbone) or the whole network (from scratch)."""
    from fer_core.training.augment import build_augmenter

    augmenter = build_augmenter(config, seed=config.seed)
    cached = config.cache_features and fer.frozen and augmenter is None and config.mixup == 0
    weights = _class_weights(config, data)
    if cached:
        log.info("Phase 1: computing frozen backbone features once, then training the head.")
        train_ds, val_ds = _feature_datasets(config, fer, data, weights)
        target = fer.head
    else:
        log.info("Phase 1: training %s end to end on augmented batches.",
                 "the head" if fer.frozen else "the whole network")
        train_ds = make_dataset(
            data.train, num_classes=len(data.classes), batch_size=config.batch_size,
            training=True, seed=config.seed, augmenter=augmenter, mixup=config.mixup,
            class_weights=weights,
        )
        val_ds = _eval_dataset(config, data.val, len(data.classes))
        target = fer.model
    steps = _steps(len(data.train), config.batch_size)
    _compile(target, config, lr=config.learning_rate, total_steps=steps * config.epochs)
    _fit(target, train_ds, val_ds, config=config, phase=1, epochs=config.epochs, steps=steps,
         save=fer.model, run_dir=run_dir, best=best, clock=clock, stop=stop)


def _phase_two(config, fer, data: PreparedData, run_dir, best, clock, stop) -> None:
    """Fine-tune: unfreeze the top of the backbone and train end to end at a low rate."""
    from fer_core.training.augment import build_augmenter
    from fer_core.training.models import unfreeze_top

    if best.saved:  # continue from the best phase-1 weights, not the last epoch's
        fer.model.load_weights(_weights_of(runs.files(run_dir).model))
    unfrozen = unfreeze_top(fer, config.unfreeze_layers)
    log.info("Phase 2: fine-tuning with %d backbone layers unfrozen.", unfrozen)
    train_ds = make_dataset(
        data.train, num_classes=len(data.classes), batch_size=config.batch_size, training=True,
        seed=config.seed + 1, augmenter=build_augmenter(config, seed=config.seed + 1),
        mixup=config.mixup, class_weights=_class_weights(config, data),
    )
    val_ds = _eval_dataset(config, data.val, len(data.classes))
    steps = _steps(len(data.train), config.batch_size)
    _compile(fer.model, config, lr=config.finetune_learning_rate,
             total_steps=steps * config.finetune_epochs)
    _fit(fer.model, train_ds, val_ds, config=config, phase=2, epochs=config.finetune_epochs,
         steps=steps, save=fer.model, run_dir=run_dir, best=best, clock=clock, stop=stop)


def _weights_of(model_path: Path) -> str:
    """Extract the saved model's weights to a file ``load_weights`` accepts."""
    import keras

    from fer_core.training.models import load_model

    target = model_path.with_name(".phase1.weights.h5")
    model: keras.Model = load_model(model_path)
    model.save_weights(target)
    return str(target)


def _fit(target, train_ds, val_ds, *, config, phase, epochs, steps, save, run_dir, best, clock,
         stop) -> None:
    import keras

    from fer_core.training.callbacks import BestModelSaver, RunProgress

    start = clock.done
    restored = resume.restored_epochs(run_dir, phase)
    history = resume.align_history(run_dir, keep_through_epoch=start + restored)
    if restored:
        log.info("Resuming phase %d after epoch %d from its backup.", phase, restored)
        clock.done = start + restored
        earlier = history["val_accuracy"].dropna()
        if len(earlier) and runs.files(run_dir).model.exists():
            best.value, best.saved = float(earlier.max()), True
            best.epoch = int(history.loc[earlier.idxmax(), "epoch"])
    callbacks: list[keras.callbacks.Callback] = [
        # First, so the weights and epoch are restored before anything reads them.
        keras.callbacks.BackupAndRestore(str(resume.backup_dir(run_dir, phase)),
                                         double_checkpoint=True),
        RunProgress(run_dir, phase=phase, steps_per_epoch=steps, clock=clock, stop=stop),
        *_ema_swap(config),  # after the backup (raw weights), before the saver (averages)
        BestModelSaver(runs.files(run_dir).model, save, best, clock),
        # `tensorboard --logdir runs/`: scalars once per epoch only (no graph, histograms or
        # profiling, which cost time). One folder per phase: each fit counts epochs from 0.
        keras.callbacks.TensorBoard(str(runs.files(run_dir).tensorboard / f"phase{phase}"),
                                    histogram_freq=0, write_graph=False, write_images=False,
                                    update_freq="epoch", profile_batch=0),
    ]
    if config.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience))
    if config.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=config.reduce_lr_factor,
            patience=config.reduce_lr_patience, min_lr=1e-7))
    # BackupAndRestore leaves the restored epoch on the model, and fit() prefers it to its own
    # argument: without this reset a resumed phase 1 would cut phase 2 short.
    target._initial_epoch = None
    target.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=0,
               shuffle=False)  # the pipeline shuffles; Keras cannot shuffle a tf.data set


def _ema_swap(config: TrainConfig) -> list:
    """Keras' own swap of the averaged weights in at each epoch's end and out at the next start.

    Validation then scores the average, and every callback after it (the best-model saver)
    sees it; the optimizer writes the average into the model for good when fit ends.
    """
    import keras

    return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema_momentum else []


def _compile(model, config: TrainConfig, *, lr: float, total_steps: int) -> None:
    import keras

    schedule: Any = lr
    if config.lr_schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1))
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum else {}
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None,
            **ema,
        )
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, **ema)
    else:
        optimizer = keras.optimizers.Adam(schedule, **ema)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def _feature_datasets(config, fer, data: PreparedData, weights):
    """Run the frozen backbone once over train and val; the head then trains in seconds."""
    import tensorflow as tf

    def features_of(split: Split) -> np.ndarray:
        ds = tf.data.Dataset.from_tensor_slices(split.images[..., None]).batch(128)
        ds = ds.map(lambda x: tf.cast(x, tf.float32)).prefetch(tf.data.AUTOTUNE)
        return fer.features.predict(ds, verbose=0).astype(np.float32)

    n_classes = len(data.classes)
    train_x, val_x = features_of(data.train), features_of(data.val)
    onehot = np.eye(n_classes, dtype=np.float32)
    train = (train_x, onehot[data.train.labels])
    if weights is not None:
        train = (*train, weights[data.train.labels])
    train_ds = tf.data.Dataset.from_tensor_slices(train).shuffle(
        len(train_x), seed=config.seed).batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices(
        (val_x, onehot[data.val.labels])).batch(256)
    return train_ds, val_ds


def _eval_dataset(config: TrainConfig, split: Split, num_classes: int):
    return make_dataset(split, num_classes=num_classes, batch_size=max(config.batch_size, 128),
                        training=False)


def _class_weights(config: TrainConfig, data: PreparedData) -> np.ndarray | None:
    if config.class_weights != "balanced":
        return None
    return balanced_class_weights(data.train.labels, len(data.classes))


def _steps(n: int, batch_size: int) -> int:
    return max(n // batch_size, 1) if n >= batch_size else 1


def _best_model(fer, model_path: Path, best):
    """The best checkpoint; if no epoch finished (cancelled early) the model as it is."""
    from fer_core.training.callbacks import save_model
    from fer_core.training.models import load_model

    if best.saved:
        return load_model(model_path)
    save_model(fer.model, model_path)
    return fer.model


def _record_environment(run_dir: Path, config: TrainConfig, data: PreparedData, *,
                        policy: str) -> None:
    """Complete config.json with what is needed to reproduce and compare the run."""
    import keras
    import tensorflow as tf

    from fer_core import device

    previous = runs.read_config(run_dir)
    runs.write_config(run_dir, replace(
        previous,
        config=config.to_dict(),
        data={
            "name": data.dataset.name,
            "location": data.dataset.location,
            "fingerprint": data.dataset.fingerprint,
            "synthetic": data.dataset.synthetic,
            "classes": list(data.classes),
            "train_counts": data.class_counts(),
            "sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        },
        environment={
            "device": device.describe_device(),
            "precision": policy,
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "host": socket.gethostname(),
        },
    ))


def _log_to_run_folder(run_dir: Path) -> logging.Handler:
    """Send the engine's log to ``log.txt`` (and to stdout when nobody redirects it there)."""
    logger = logging.getLogger("fer_core")
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    log_path = runs.files(run_dir).log
    if settings.job_log() == str(log_path):
        handler: logging.Handler = logging.StreamHandler(sys.stdout)  # stdout is log.txt
    else:
        handler = logging.FileHandler(log_path)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(
                h, logging.FileHandler) for h in logger.handlers):
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(formatter)
            logger.addHandler(console)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return handler
