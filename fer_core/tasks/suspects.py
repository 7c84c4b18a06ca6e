"""Suspect labels: which training images are most likely labelled wrong (confident learning).

    python -m fer_core data suspects [--data PATH] [--folds 5] [--json]

Every training image gets class probabilities from a model that never saw it (out of fold):
the training images are cut into ``folds`` stratified parts, and for each part a quick model
(``fer-cnn`` from scratch, a few epochs: nothing needs ImageNet weights) is trained on the
others by the ordinary fit (:func:`fer_core.training.trainer.fit`), and the held-out part is
scored as a test split is. cleanlab's ``find_label_issues`` then ranks the images whose given
label the held-out model trusts least (self-confidence).

The result, ``suspects.csv``, is kept in the cache folder under the data set's fingerprint, so
the app shows it again without re-running a pass that takes minutes on real data; while a pass
runs, ``progress.json`` beside it says how far it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core import access, atomic, device, settings
from fer_core.core.config import TrainConfig, preset
from fer_core.core.errors import DataError, RunError
from fer_core.data import DataRef, overrides
from fer_core.data.dataset import Dataset
from fer_core.inference.evaluation import predict_proba
from fer_core.training.inputs import prepare_data
from fer_core.training.trainer import fit

log = logging.getLogger("fer_core.data")

SCOPE = ("train", "val")  # the images a model learns from: the test split is never judged
COLUMNS = ["file", "given", "suggested", "self_confidence", "rank"]
DEFAULT_FOLDS = 5
DEFAULT_EPOCHS = 8  # per fold: enough for fer-cnn to rank labels, short enough to run 5 times
MIN_FOLDS = 2

Progress = Callable[[int, int], None]  # (folds done, folds)


# --- where results live --------------------------------------------------------------------------

def result_dir(fingerprint: str) -> Path:
    return settings.cache_dir() / "suspects" / fingerprint


def csv_path(fingerprint: str) -> Path:
    return result_dir(fingerprint) / "suspects.csv"


def _progress_path(fingerprint: str) -> Path:
    return result_dir(fingerprint) / "progress.json"


def read_suspects(fingerprint: str) -> pd.DataFrame | None:
    """The last pass's suspects for this data set, best first, or ``None`` if never run."""
    try:
        return pd.read_csv(csv_path(fingerprint), dtype={"file": str, "given": str,
                                                         "suggested": str})
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def most_suspect(fingerprint: str, count: int) -> list[str]:
    """The ids of the ``count`` most suspect labels of the last pass (fewer if it flagged
    fewer), for excluding them all at once."""
    table = read_suspects(fingerprint)
    if table is None:
        raise DataError("This data set has no suspect labels yet: find them first "
                        "(`python -m fer_core data suspects`, or Explore > Suspect labels).")
    return table.sort_values("rank").head(max(count, 0))["file"].tolist()


def exclude_most_suspect(ds: Dataset, count: int, *, undo: bool = False
                         ) -> tuple[int, overrides.LabelOverrides]:
    """Leave the ``count`` most suspect labels out of jobs launched from now on (``undo``:
    train on them as given again); return how many that was and the data set's overrides."""
    ids = most_suspect(ds.fingerprint, count)
    return len(ids), (overrides.restore if undo else overrides.exclude)(ds, *ids)


def read_progress(fingerprint: str) -> dict[str, Any]:
    """How far a pass is: ``state`` (running, done, failed), ``done`` and ``folds``, and the
    fraction of the fold in training read from its run folder."""
    progress = runs.read_json(_progress_path(fingerprint)) or {}
    if progress.get("state") == "running":
        fold_dir = progress.get("fold_dir")
        status = runs.read_status(Path(fold_dir)) if fold_dir else None
        progress["fold_fraction"] = (status.progress.fraction if status and status.progress
                                     else None) or 0.0
        if not runs.pid_alive(progress.get("pid")):
            progress.update(state="failed", error=_last_line(result_dir(fingerprint) / "log.txt")
                            or "the pass stopped")
    return progress


# --- the pass ------------------------------------------------------------------------------------

def pass_config(*, epochs: int = DEFAULT_EPOCHS, seed: int = 0) -> TrainConfig:
    """``fast-cpu``'s network, cosine schedule and label smoothing (it keeps the held-out
    probabilities from being all-or-nothing, so an ambiguous face is not ranked with a wrong
    label), cut short. No augmentation: a few epochs learn fastest on the images as they
    are. Balanced class weights: without them a rare class (FER-2013's disgust) is seldom
    predicted, so its correct labels look suspect. The held-out images are scored with their
    mirror (test-time augmentation is nearly free beside training); a small validation
    share, so most of each fold's images train."""
    return preset("fast-cpu").replace(
        epochs=epochs, seed=seed, batch_size=32, augment=False, random_crop=0,
        class_weights="balanced", label_smoothing=0.1, tta=True, tta_shift=0,
        val_fraction=0.1, data="")


def check_folds(ds: Dataset, folds: int) -> None:
    """Every class needs an image in every fold, so the minimum is ``folds`` per class."""
    if folds < MIN_FOLDS:
        raise DataError(f"folds must be at least {MIN_FOLDS}; got {folds}.")
    counts = _in_scope(ds).index["label"].value_counts()
    if len(counts) < 2:
        raise DataError("Finding suspect labels needs training images of at least 2 classes; "
                        f"this data set has {len(counts)}.")
    small = counts[counts < folds]
    if len(small):
        listed = ", ".join(f"{label} has {n}" for label, n in small.items())
        raise DataError(
            f"The data set is too small for {folds} folds: the minimum is {folds} training "
            f"images in every class; {listed}. Add images, or pass a smaller --folds "
            f"(at least {MIN_FOLDS}).")


def out_of_fold_probabilities(ds: Dataset, *, folds: int, config: TrainConfig, work_dir: Path,
                              progress: Progress | None = None) -> tuple[Dataset, np.ndarray]:
    """The training images and, row for row, probabilities from a model trained without them.

    Each fold is a fit alone (no evaluation, calibration, card or tracking of the fold model),
    then its held-out images scored as training scores a test split. A stop (SIGTERM) ends the
    fold's step and the pass."""
    from sklearn.model_selection import StratifiedKFold

    from fer_core.training.callbacks import StopFlag  # Keras, which takes seconds

    check_folds(ds, folds)
    scope = _in_scope(ds)
    labels = scope.labels
    proba = np.full((len(scope), len(ds.classes)), np.nan, dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    stop = StopFlag()
    stop.install()
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        if progress:
            progress(fold, folds)
        run_dir = work_dir / f"fold-{fold + 1}"
        shutil.rmtree(run_dir, ignore_errors=True)
        log.info("Suspect labels: fold %d of %d (%d held out).", fold + 1, folds, len(held_out))
        proba[held_out] = _held_out_probabilities(config, run_dir, scope, held_out, stop)
        if stop.requested:
            raise RunError(f"The suspect-labels pass was stopped during fold {fold + 1}.")
        shutil.rmtree(run_dir, ignore_errors=True)
    if progress:
        progress(folds, folds)
    return scope, proba


def _held_out_probabilities(config: TrainConfig, run_dir: Path, scope: Dataset,
                            held_out: np.ndarray, stop: Any) -> np.ndarray:
    """Fit a fold model on the scope without ``held_out`` and score ``held_out`` with it, in
    the scope's row order."""
    with device.configured(policy=device.precision_policy(config.mixed_precision),
                           seed=config.seed):
        data = prepare_data(config, _fold_dataset(scope, held_out))
        fitted = fit(config, run_dir, data, stop=stop)
        scored = predict_proba(fitted.model, data.test.images, tta=config.tta,
                               shift=config.tta_shift, batch_size=max(config.batch_size, 128))
    by_id = pd.DataFrame(scored, index=data.test.ids)
    return by_id.loc[scope.index["id"].to_numpy(dtype=str)[held_out]].to_numpy()


def rank_suspects(scope: Dataset, proba: np.ndarray) -> pd.DataFrame:
    """cleanlab's label issues, most suspect first: the given label, the class the held-out
    model believes most among the others, and the probability it gave the given label."""
    from cleanlab.filter import find_label_issues

    labels = scope.labels
    ranked = find_label_issues(labels, proba, return_indices_ranked_by="self_confidence",
                               n_jobs=1)
    classes = np.asarray(scope.classes, dtype=object)
    others = proba.copy()
    others[np.arange(len(labels)), labels] = -1.0  # the suggestion is never the given label
    return pd.DataFrame({
        "file": scope.index["id"].to_numpy(dtype=str)[ranked],
        "given": classes[labels[ranked]],
        "suggested": classes[others[ranked].argmax(axis=1)],
        "self_confidence": proba[ranked, labels[ranked]].round(5),
        "rank": np.arange(1, len(ranked) + 1),
    }, columns=COLUMNS)


def find_suspects(ds: Dataset, *, folds: int = DEFAULT_FOLDS, epochs: int = DEFAULT_EPOCHS,
                  seed: int = 0, progress: Progress | None = None) -> tuple[pd.DataFrame, int]:
    """Run the whole pass on ``ds`` and keep its ``suspects.csv``; return the suspects and the
    number of images judged."""
    check_folds(ds, folds)
    out = result_dir(ds.fingerprint)
    work = out / "folds"
    pid = os.getpid()

    def report(done: int, total: int) -> None:
        atomic.write_json(_progress_path(ds.fingerprint), {
            "state": "running", "done": done, "folds": total, "pid": pid,
            "fold_dir": str(work / f"fold-{done + 1}"), "started": started})
        if progress:
            progress(done, total)

    started = runs.now_iso()
    try:
        scope, proba = out_of_fold_probabilities(
            ds, folds=folds, config=pass_config(epochs=epochs, seed=seed), work_dir=work,
            progress=report)
        table = rank_suspects(scope, proba)
    except BaseException as err:
        atomic.write_json(_progress_path(ds.fingerprint), {
            "state": "failed", "error": f"{type(err).__name__}: {err}", "folds": folds})
        raise
    atomic.write_text(csv_path(ds.fingerprint), table.to_csv(index=False))
    atomic.write_json(_progress_path(ds.fingerprint), {
        "state": "done", "done": folds, "folds": folds, "n_images": len(scope),
        "n_suspects": len(table), "started": started, "finished": runs.now_iso()})
    shutil.rmtree(work, ignore_errors=True)
    return table, len(scope)


def to_json(table: pd.DataFrame, n_images: int) -> dict[str, Any]:
    """What ``data suspects --json`` prints."""
    return {"n_images": int(n_images), "n_suspects": len(table), "suspects": [
        {"file": row.file, "given": row.given, "suggested": row.suggested,
         "score": float(row.self_confidence)} for row in table.itertuples()]}


def start_in_background(data: DataRef, *, folds: int = DEFAULT_FOLDS,
                        epochs: int = DEFAULT_EPOCHS, fingerprint: str) -> None:
    """Run the pass on ``data`` as its own process (training never runs inside the app),
    reporting into ``progress.json``, which records the data too; the app follows it there."""
    access.ensure_writable("Finding suspect labels")
    out = result_dir(fingerprint)
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "fer_core", "data", "suspects", "--folds", str(folds),
               "--epochs", str(epochs), "--data", str(data)]
    with open(out / "log.txt", "wb") as log_file:
        process = subprocess.Popen(command, cwd=settings.PROJECT_ROOT, stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    atomic.write_json(_progress_path(fingerprint), {
        "state": "running", "done": 0, "folds": folds, "pid": process.pid,
        "started": runs.now_iso(), "data": str(data)})


# --- helpers -------------------------------------------------------------------------------------

def _in_scope(ds: Dataset) -> Dataset:
    return ds.subset(ds.index["split"].isin(SCOPE).to_numpy())


def _fold_dataset(scope: Dataset, held_out: np.ndarray) -> Dataset:
    """The scope with the held-out fold as the test split and the rest as train (validation is
    carved from it by training, as always)."""
    split = np.full(len(scope), "train", dtype=object)
    split[held_out] = "test"
    return replace(scope, index=scope.index.assign(split=split))


def _last_line(path: Path) -> str | None:
    """The last thing a background pass printed: its error, when it died of one."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None
