"""The ``train`` task: a TrainConfig in, a finished run folder out.

    python -m fer_core train --preset fast-cpu --run-dir runs/my-first-run

The run's life around the fit (``fer_core.training.trainer.fit`` only trains): its status, its
log, a stop on SIGTERM, and the steps that read the trained model: evaluation, the fitted
temperature, the model card, TensorBoard and MLflow.
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

import numpy as np

from fer_core import runs, tracking
from fer_core.core import device, settings
from fer_core.core.config import TrainConfig
from fer_core.core.errors import FerError
from fer_core.core.signals import StopFlag
from fer_core.data import DataRef, Dataset
from fer_core.inference.calibration import fit_run
from fer_core.inference.evaluation import evaluate_model
from fer_core.reports.card import write_after_training
from fer_core.runs import searches
from fer_core.runs.overrides import apply_for_run
from fer_core.training.inputs import PreparedData, prepare_data
from fer_core.training.loggers import Loggers, TensorBoardLogger
from fer_core.training.models import as_float32
from fer_core.training.trainer import Fitted, fit

log = logging.getLogger("fer_core.training")


def train(config: TrainConfig, run_dir: Path, *, dataset: Dataset | None = None) -> dict:
    """Train, evaluate and write the run folder; return the metrics. A stop (SIGTERM/SIGINT)
    finishes the current step, and the best model so far is kept and evaluated."""
    started = time.monotonic()  # a time budget counts from here, TensorFlow's import included
    run_dir = Path(run_dir)
    if not runs.files(run_dir).config.exists():
        runs.create_run(config.to_dict(), run_dir=run_dir)
    handler = _log_to_run_folder(run_dir)
    stop = StopFlag()
    stop.install()
    runs.start(run_dir, pid=os.getpid())  # a job's worker already stamped the start time
    loggers = Loggers()
    try:
        metrics = _train(config, run_dir, dataset, stop, loggers, started=started)
    except BaseException as err:
        log.exception("Training failed")
        loggers.on_end("failed")
        runs.finish(run_dir, "failed", error=f"{type(err).__name__}: {err}")
        raise
    else:
        shutil.rmtree(runs.files(run_dir).backup, ignore_errors=True)  # only a crash resumes
        state = "cancelled" if stop.requested else "succeeded"
        fields = loggers.on_end(state)  # MLflow's replay, before "succeeded" says all is done
    finally:
        logging.getLogger("fer_core").removeHandler(handler)
        handler.close()
    runs.finish(run_dir, state, **fields)
    log.info("Run %s %s.", run_dir.name, state)
    return metrics


def _train(config: TrainConfig, run_dir: Path, dataset: Dataset | None, stop: StopFlag,
           loggers: Loggers, *, started: float) -> dict:
    policy = device.precision_policy(config.mixed_precision)
    repeats = _reproducibility(config)
    with device.configured(policy=policy, seed=config.seed, deterministic=repeats == "yes"):
        data = prepare_data(config, apply_for_run(
            run_dir, dataset or DataRef.parse(config.data).load()))
        log.info("Data: %s; classes %s; train %d, val %d, test %d.", data.dataset.name,
                 ", ".join(data.classes), len(data.train), len(data.val), len(data.test))
        # before the loggers: MLflow names its experiment from the recorded data set
        _record_environment(run_dir, config, data, policy=policy, reproducible=repeats)
        loggers.add(TensorBoardLogger.create(run_dir),
                    tracking.MLflowLogger(run_dir) if tracking.enabled() else None)
        fitted = fit(config, run_dir, data, stop=stop, loggers=loggers, started=started)
        if fitted.cancelled and searches.trial_of(runs.read_config(run_dir).extra):
            return _stopped_trial(run_dir, data, fitted, started=started)
        metrics = evaluate_model(as_float32(fitted.model), data, run_dir=run_dir, tta=config.tta,
                                 shift=config.tta_shift, batch_size=max(config.batch_size, 128))
    metrics.update(computed_in="float32", seconds=round(time.monotonic() - started, 1),
                   epochs=fitted.epochs,
                   best_epoch=fitted.best_epoch, cancelled=fitted.cancelled)
    runs.write_metrics(run_dir, metrics)
    if "val" in metrics:  # the temperature Predict, evaluate and predict apply by default
        try:
            fit_run(run_dir)
        except FerError as err:  # the trained model matters more: keep it, say why
            log.warning("No temperature fitted: %s", err)
    write_after_training(run_dir, data.dataset)  # MODEL_CARD.md, before MLflow logs the files
    return metrics


def _stopped_trial(run_dir: Path, data: PreparedData, fitted: Fitted, *, started: float
                   ) -> dict:
    """A search trial stopped midway (pruned, or its search cancelled) is scored by what it
    reported epoch by epoch; evaluating it on validation and test would only cost minutes."""
    log.info("A search trial stopped midway: its epochs are its record, so it is not "
             "evaluated.")
    metrics = {"classes": list(data.classes), "seconds": round(time.monotonic() - started, 1),
               "epochs": fitted.epochs, "best_epoch": fitted.best_epoch, "cancelled": True}
    runs.write_metrics(run_dir, metrics)
    return metrics


def _reproducibility(config: TrainConfig) -> str:
    """Whether the seed repeats the run, or what keeps it from that (``wording.REPRODUCIBLE``)."""
    if config.time_budget_min:
        return "time budget"
    if not config.deterministic:
        return "off"
    return "gpu" if device.gpu_names() else "yes"


def _record_environment(run_dir: Path, config: TrainConfig, data: PreparedData, *,
                        policy: str, reproducible: str) -> None:
    """Complete config.json with what is needed to reproduce and compare the run."""
    import keras
    import tensorflow as tf

    runs.write_config(run_dir, replace(
        runs.read_config(run_dir),
        config=config.to_dict(),
        data={
            "name": data.dataset.name, "location": data.dataset.location,
            "fingerprint": data.dataset.fingerprint, "synthetic": data.dataset.synthetic,
            "classes": list(data.classes), "train_counts": data.class_counts(),
            "sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        },
        environment={
            "device": device.describe_device(), "precision": policy, "reproducible": reproducible,
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "host": socket.gethostname(),
        },
    ))


def _log_to_run_folder(run_dir: Path) -> logging.Handler:
    """Send the engine's log to ``log.txt``: a job's stdout is that file; otherwise write the
    file, and echo to stderr unless a console handler is there already."""
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
