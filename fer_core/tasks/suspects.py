"""Suspect labels: which training images are most likely labelled wrong (confident learning).

    python -m fer_core data suspects [--data PATH] [--folds 5] [--json]

Every training image gets class probabilities from a quick model that never saw it (out of
fold: ``folds`` stratified parts, each scored by ``fer-cnn`` fitted from scratch on the others,
as nothing needs ImageNet weights); cleanlab's ``find_label_issues`` then ranks the images whose
given label that model trusts least. A heavy task: it waits behind training, runs on Ray when
jobs go there, can be cancelled, and keeps ``suspects.csv`` in its task folder.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core.core import atomic, device, settings
from fer_core.core.config import TrainConfig, preset
from fer_core.core.errors import DataError, RunError
from fer_core.core.signals import StopFlag
from fer_core.data import DataRef, overrides
from fer_core.data.dataset import Dataset
from fer_core.inference import features, neighbours
from fer_core.inference.evaluation import predict_proba
from fer_core.runs import task_folders
from fer_core.tasks.runner import Progress, TaskContext
from fer_core.training.inputs import prepare_data
from fer_core.training.loggers import Loggers, RunLogger
from fer_core.training.trainer import fit

log = logging.getLogger("fer_core.data")

SCOPE = ("train", "val")  # the images a model learns from: the test split is never judged
COLUMNS = ["file", "given", "suggested", "self_confidence", "rank"]
DEFAULT_FOLDS = 5
DEFAULT_EPOCHS = 8  # per fold: enough for fer-cnn to rank labels, short enough to run 5 times
MIN_FOLDS = 2

RESULT = "suspects.csv"
KIND = "suspects"
NEIGHBOURS = 30  # training faces of its fold whose labels vote on a held-out face's
# A face's held-out evidence, before cleanlab ranks it: the fold model's probabilities, with
# the labels of its nearest training faces in that model's feature space mixed in at this
# weight. On two flips of the demo (bench/suspects_knn.py, bench/RESULTS.md) a quarter of the
# vote found 2-3 more flips in 140 than the model alone; the vote alone, or half of it, fewer.
NEIGHBOUR_WEIGHT = 0.25


def csv_path(fingerprint: str) -> Path:
    """Where passes kept their result before they were tasks (the cache folder)."""
    return settings.cache_dir() / "suspects" / fingerprint / RESULT


def latest_pass(fingerprint: str, *, runs_root: Path | None = None,
                state: str | None = None) -> Path | None:
    return task_folders.latest(KIND, fingerprint, runs_root=runs_root, state=state)


def read_suspects(fingerprint: str, *, runs_root: Path | None = None) -> pd.DataFrame | None:
    """The last finished pass's suspects for this data set, or ``None`` if it never ran."""
    done = latest_pass(fingerprint, runs_root=runs_root, state="succeeded")
    try:
        return pd.read_csv(done / RESULT if done else csv_path(fingerprint),
                           dtype={"file": str, "given": str, "suggested": str})
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def most_suspect(fingerprint: str, count: int, *, runs_root: Path | None = None) -> list[str]:
    """The ids of the ``count`` most suspect labels of the last pass (fewer if it flagged fewer)."""
    table = read_suspects(fingerprint, runs_root=runs_root)
    if table is None:
        raise DataError("This data set has no suspect labels yet: find them first "
                        "(`python -m fer_core data suspects`, or Explore > Suspect labels).")
    return table.sort_values("rank").head(max(count, 0))["file"].tolist()


def exclude_most_suspect(ds: Dataset, count: int, *, undo: bool = False,
                         runs_root: Path | None = None) -> tuple[int, overrides.LabelOverrides]:
    """Leave the ``count`` most suspect labels out of jobs launched from now on (``undo``:
    train on them as given again); return how many that was and the data set's overrides."""
    ids = most_suspect(ds.fingerprint, count, runs_root=runs_root)
    return len(ids), (overrides.restore if undo else overrides.exclude)(ds, *ids)


def pass_config(*, epochs: int = DEFAULT_EPOCHS, seed: int = 0) -> TrainConfig:
    """``fast-cpu``'s network, schedule and label smoothing (so an ambiguous face's held-out
    probabilities are not all-or-nothing), cut short. No augmentation: a few epochs learn
    fastest on the images as they are. Balanced class weights, or a rare class (FER-2013's
    disgust) is seldom predicted and its correct labels look suspect. Mirror TTA is nearly free
    beside training; a small validation share leaves most of each fold's images to train."""
    return preset("fast-cpu").replace(epochs=epochs, seed=seed, batch_size=32, augment=False,
                                      random_crop=0, class_weights="balanced", label_smoothing=0.1,
                                      tta=True, tta_shift=0, val_fraction=0.1, data="")


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
        raise DataError(f"The data set is too small for {folds} folds: the minimum is {folds} "
                        f"training images in every class; {listed}. Add images, or pass a smaller "
                        f"--folds (at least {MIN_FOLDS}).")


def out_of_fold_probabilities(ds: Dataset, *, folds: int, config: TrainConfig, work_dir: Path,
                              progress: Progress | None = None, stop: StopFlag | None = None
                              ) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """The training images and, row for row, probabilities from a model trained without them
    and the label shares among their nearest training faces in that model's feature space
    (``neighbours.label_shares``). Each fold is a fit alone (no evaluation, calibration, card
    or tracking of the fold model); a stop (SIGTERM) ends the fold's step and the pass."""
    from sklearn.model_selection import StratifiedKFold

    check_folds(ds, folds)
    scope = _in_scope(ds)
    proba = np.full((len(scope), len(ds.classes)), np.nan, dtype=np.float32)
    shares = np.full_like(proba, np.nan)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    stop = stop or StopFlag()
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(scope)), scope.labels)):
        run_dir = work_dir / f"fold-{fold + 1}"
        shutil.rmtree(run_dir, ignore_errors=True)
        log.info("Suspect labels: fold %d of %d (%d held out).", fold + 1, folds, len(held_out))
        fold_progress = FoldProgress(progress, fold, folds, config.epochs)
        proba[held_out], shares[held_out] = _held_out_evidence(config, run_dir, scope, held_out,
                                                               stop, fold_progress)
        if stop.requested:
            raise RunError(f"The suspect-labels pass was stopped during fold {fold + 1}.")
        shutil.rmtree(run_dir, ignore_errors=True)
    if progress:
        progress(1.0, f"All {folds} folds done; ranking the labels")
    return scope, proba, shares


class FoldProgress(RunLogger):
    """A fold's epochs as the pass's progress: fold k of n, epoch e of E."""

    def __init__(self, progress: Progress | None, fold: int, folds: int, epochs: int) -> None:
        self.progress, self.fold, self.folds, self.epochs = progress, fold, folds, epochs
        self.on_epoch({"epoch": 0})

    def on_epoch(self, row: dict[str, Any]) -> None:
        if self.progress:
            done = min(int(row.get("epoch") or 0), self.epochs)
            self.progress((self.fold + done / max(self.epochs, 1)) / self.folds,
                          f"Fold {self.fold + 1} of {self.folds}: epoch {done} of {self.epochs}")


def _held_out_evidence(config: TrainConfig, run_dir: Path, scope: Dataset,
                       held_out: np.ndarray, stop: StopFlag, progress: RunLogger
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A fold model's probabilities for ``held_out`` and the label shares among each one's
    nearest faces of the fold's training images, in the scope's row order."""
    with device.configured(policy=device.precision_policy(config.mixed_precision),
                           seed=config.seed):
        data = prepare_data(config, _fold_dataset(scope, held_out))
        fitted = fit(config, run_dir, data, stop=stop, loggers=Loggers(progress))
        scored = predict_proba(fitted.model, data.test.images, tta=config.tta,
                               shift=config.tta_shift, batch_size=max(config.batch_size, 128))
        pool, _ = features.compute(fitted.model, data.train.images)
        queries, _ = features.compute(fitted.model, data.test.images)
    voted = neighbours.label_shares(pool, data.train.labels, queries,
                                    classes=len(scope.classes), k=NEIGHBOURS)
    order = scope.index["id"].to_numpy(dtype=str)[held_out]
    return (pd.DataFrame(scored, index=data.test.ids).loc[order].to_numpy(),
            pd.DataFrame(voted, index=data.test.ids).loc[order].to_numpy())


def scored_probabilities(proba: np.ndarray, shares: np.ndarray,
                         weight: float = NEIGHBOUR_WEIGHT) -> np.ndarray:
    """The evidence cleanlab ranks: the model's probabilities and the neighbours' label
    shares, ``weight`` parts of the second to one of the first (0: the model alone)."""
    if weight < 0:
        raise ValueError(f"weight must be 0 or more; got {weight}.")
    return ((proba + weight * shares) / (1 + weight)).astype(np.float32)


def rank_suspects(scope: Dataset, proba: np.ndarray) -> pd.DataFrame:
    """cleanlab's label issues, most suspect first: the given label, the class the held-out
    model believes most among the others, and the probability it gave the given label."""
    from cleanlab.filter import find_label_issues

    labels = scope.labels
    ranked = find_label_issues(labels, proba, return_indices_ranked_by="self_confidence", n_jobs=1)
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


def find_suspects(ds: Dataset, out_dir: Path, *, folds: int = DEFAULT_FOLDS,
                  epochs: int = DEFAULT_EPOCHS, seed: int = 0, progress: Progress | None = None,
                  stop: StopFlag | None = None) -> tuple[pd.DataFrame, int]:
    """Run the whole pass on ``ds`` and keep its ``suspects.csv`` in ``out_dir``; return the
    suspects and the number of images judged."""
    work = out_dir / "folds"
    scope, proba, shares = out_of_fold_probabilities(
        ds, folds=folds, config=pass_config(epochs=epochs, seed=seed), work_dir=work,
        progress=progress, stop=stop)
    table = rank_suspects(scope, scored_probabilities(proba, shares))
    atomic.write_text(out_dir / RESULT, table.to_csv(index=False))
    shutil.rmtree(work, ignore_errors=True)
    return table, len(scope)


def spec(data: DataRef, ds: Dataset, *, folds: int = DEFAULT_FOLDS,
         epochs: int = DEFAULT_EPOCHS, seed: int = 0) -> dict[str, Any]:
    """What a pass over ``ds`` (loaded from ``data``) is asked; a data set too small for the
    folds is refused before anything is queued."""
    check_folds(ds, folds)
    return {"data": str(data), "folds": folds, "epochs": epochs, "seed": seed}


def run_task(ctx: TaskContext) -> dict[str, Any]:
    spec = ctx.spec
    ds = DataRef.parse(spec["data"]).load()
    table, n_images = find_suspects(ds, ctx.task_dir, folds=spec["folds"], epochs=spec["epochs"],
                                    seed=spec.get("seed", 0), progress=ctx.progress, stop=ctx.stop)
    return {"n_images": n_images, "n_suspects": len(table), "fingerprint": ds.fingerprint}


def to_json(table: pd.DataFrame, n_images: int) -> dict[str, Any]:
    """What ``data suspects --json`` prints."""
    return {"n_images": int(n_images), "n_suspects": len(table), "suspects": [
        {"file": row.file, "given": row.given, "suggested": row.suggested,
         "score": float(row.self_confidence)} for row in table.itertuples()]}


def _in_scope(ds: Dataset) -> Dataset:
    return ds.subset(ds.index["split"].isin(SCOPE).to_numpy())


def _fold_dataset(scope: Dataset, held_out: np.ndarray) -> Dataset:
    """The scope with the held-out fold as the test split and the rest as train (validation is
    carved from it by training, as always)."""
    split = np.full(len(scope), "train", dtype=object)
    split[held_out] = "test"
    return replace(scope, index=scope.index.assign(split=split))
