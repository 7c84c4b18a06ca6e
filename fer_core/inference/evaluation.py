"""Predictions and metrics: accuracy, loss, macro-F1, per-class report, confusion matrix; for
training's end, ``python -m fer_core evaluate`` (any data set, ensembles) and the Predict page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core import settings
from fer_core.core.calibration import calibration_scores
from fer_core.core.errors import RunError
from fer_core.data import DataRef, Dataset
from fer_core.inference.calibration import calibrate_proba
from fer_core.training.inputs import PreparedData, Split


def tta_views(images: np.ndarray, *, flip: bool = False, shift: int = 0) -> Iterator[np.ndarray]:
    """The views test-time augmentation averages over, one at a time to bound memory: the
    image; with ``shift`` also moved ``shift`` pixels up, down, left and right (zero-filled, as
    ``random_crop`` pads in training); with ``flip`` each mirrored too: ten views with both,
    the "ten-crop" of the VGG-on-FER-2013 literature."""
    x = images[..., None].astype(np.float32)
    offsets = [(0, 0)]
    if shift > 0:
        offsets += [(-shift, 0), (shift, 0), (0, -shift), (0, shift)]
        padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    height, width = x.shape[1:3]
    for dy, dx in offsets:
        view = x if (dy, dx) == (0, 0) else padded[
            :, shift + dy:shift + dy + height, shift + dx:shift + dx + width]
        yield view
        if flip:
            yield view[:, :, ::-1]


def predict_proba(model, images: np.ndarray, *, tta: bool = False, shift: int = 0,
                  batch_size: int = 256, callbacks: list | None = None) -> np.ndarray:
    """Class probabilities for (N, 48, 48) uint8 images, averaged over the ``tta_views``;
    ``callbacks`` (Keras predict callbacks) follow every batch, e.g. to report progress."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    probas = [model.predict(view, batch_size=batch_size, verbose=0, callbacks=callbacks)
              for view in tta_views(images, flip=tta, shift=shift)]
    return np.mean(probas, axis=0).astype(np.float32)


def compute_metrics(y_true: np.ndarray, proba: np.ndarray,
                    classes: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Every number Results shows for one split."""
    from sklearn import metrics as sk

    labels = list(range(len(classes)))
    y_pred = proba.argmax(axis=1)
    matrix = sk.confusion_matrix(y_true, y_pred, labels=labels)
    report = sk.classification_report(y_true, y_pred, labels=labels, target_names=list(classes),
                                      output_dict=True, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(sk.accuracy_score(y_true, y_pred)),
        "loss": float(sk.log_loss(y_true, np.clip(proba, 1e-7, 1), labels=labels)),
        "macro_f1": float(sk.f1_score(y_true, y_pred, labels=labels, average="macro",
                                      zero_division=0)),
        "per_class": {name: {k: float(v) for k, v in report[name].items()} for name in classes},
        "confusion_matrix": matrix.tolist(),
        "most_confused": most_confused_pairs(matrix, classes),
    }


def most_confused_pairs(matrix: np.ndarray, classes, *, top: int = 5) -> list[dict[str, Any]]:
    """The largest off-diagonal cells: which true class is most often taken for which."""
    off = np.array(matrix, dtype=np.int64)
    totals = np.maximum(off.sum(axis=1), 1)
    np.fill_diagonal(off, 0)
    errors = np.maximum(off.sum(axis=1), 1)
    pairs = []
    for flat in np.argsort(off, axis=None)[::-1][:top]:
        i, j = divmod(int(flat), off.shape[1])
        if off[i, j] == 0:
            break
        pairs.append({"true": classes[i], "predicted": classes[j], "count": int(off[i, j]),
                      "share_of_true": round(off[i, j] / totals[i], 4),
                      "share_of_errors": round(off[i, j] / errors[i], 4)})
    return pairs


def predictions_frame(split: Split, proba: np.ndarray, classes, split_name: str) -> pd.DataFrame:
    names = np.asarray(classes, dtype=object)
    frame = pd.DataFrame({"id": split.ids, "split": split_name, "true": names[split.labels],
                          "pred": names[proba.argmax(axis=1)],
                          "confidence": proba.max(axis=1).round(5)})
    return frame.assign(**{f"p_{name}": proba[:, i].round(5) for i, name in enumerate(classes)})


def evaluate_model(model, data: PreparedData, *, run_dir: Path | None = None, tta: bool = False,
                   shift: int = 0, batch_size: int = 256) -> dict[str, Any]:
    """Metrics on val and test; ``predictions.csv`` written into ``run_dir`` when given."""
    metrics: dict[str, Any] = {"classes": list(data.classes), "tta": tta, "tta_shift": shift}
    frames = []
    callbacks = [_progress(run_dir, data, tta=tta, shift=shift, batch_size=batch_size)
                 ] if run_dir is not None else None
    for name, split in (("val", data.val), ("test", data.test)):
        if len(split) == 0:
            continue
        proba = predict_proba(model, split.images, tta=tta, shift=shift, batch_size=batch_size,
                              callbacks=callbacks)
        metrics[name] = compute_metrics(split.labels, proba, data.classes)
        frames.append(predictions_frame(split, proba, data.classes, name))
    if run_dir is not None and frames:
        runs.write_predictions(run_dir, pd.concat(frames, ignore_index=True))
    return metrics


def _progress(run_dir: Path, data: PreparedData, *, tta: bool, shift: int, batch_size: int):
    from fer_core.training.eval_progress import EvaluationProgress, evaluation_batches

    views = sum(1 for _ in tta_views(np.zeros((1, 2, 2), np.uint8), flip=tta, shift=shift))
    total = evaluation_batches([len(data.val), len(data.test)], views=views,
                               batch_size=batch_size)
    return EvaluationProgress(run_dir, total)


# --- saved runs ----------------------------------------------------------------------------------

def load_run_model(run_dir: Path):
    """The run's model as every prediction uses it: the float32 rebuild exports are made of."""
    from fer_core.training.models import as_float32, load_model

    path = runs.files(run_dir).model
    if not path.is_file():
        state = runs.effective_state(runs.read_status(Path(run_dir)))
        raise RunError(f"Run {Path(run_dir).name} has no model.keras (state: {state}); wait "
                       "for it to finish or pick a finished run.")
    return as_float32(load_model(path))


def run_classes(run_dir: Path) -> tuple[str, ...]:
    classes = runs.read_config(Path(run_dir)).data.get("classes")
    if not classes:
        raise RunError(f"Run {Path(run_dir).name} does not record its classes in config.json.")
    return tuple(classes)


def run_dataset(run_dir: Path, *, data: DataRef | None = None) -> tuple[Dataset, tuple[str, ...]]:
    """The run's data set (or ``data``) as the run saw it, its drops and merges applied, and
    the run's classes."""
    from fer_core.core.config import TrainConfig
    from fer_core.training.inputs import apply_data_config

    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(runs.read_config(run_dir).config)
    classes = run_classes(run_dir)
    return apply_data_config((data or DataRef.parse(config.data)).load(), config), classes


def split_in_classes(ds: Dataset, split: str, classes: tuple[str, ...]) -> Split:
    """A split with labels in ``classes``' order, images of other classes left out."""
    part = ds.split(split)
    part = part.subset(part.index["label"].isin(classes).to_numpy())
    lookup = {name: i for i, name in enumerate(classes)}
    labels = part.index["label"].map(lookup).to_numpy(dtype=np.int32)
    return Split(part.images, labels, part.index["id"].to_numpy(dtype=str))


def run_split(run_dir: Path, split: str = "test", *,
              data: DataRef | None = None) -> tuple[Split, tuple[str, ...]]:
    """A split of the run's data set (or of ``data``) with labels in the run's class order:
    its drops and merges applied, images of other classes left out."""
    ds, classes = run_dataset(run_dir, data=data)
    part = split_in_classes(ds, split, classes)
    if len(part) == 0:
        raise RunError(f"The data set has no {split} images of the run's classes.")
    return part, classes


def shared_classes(run_dirs: list[Path]) -> tuple[str, ...]:
    """The classes of runs to average: averaging columns that mean different emotions would
    be silently wrong, so runs that differ are refused."""
    classes = run_classes(run_dirs[0])
    for run_dir in run_dirs[1:]:
        if run_classes(run_dir) != classes:
            raise RunError(f"Runs in an ensemble must share their classes; {run_dir.name} differs "
                           f"from {run_dirs[0].name}. Pick runs trained on the same classes.")
    return classes


def run_tta_shift(run_dir: Path) -> int:
    """The shift the run was trained for (0 for runs recorded before it existed)."""
    return int(runs.read_config(Path(run_dir)).config.get("tta_shift", 0))


def evaluate_run(run_dir: Path, *, data: DataRef | None = None, split: str = "test",
                 tta: bool = False, shift: int = 0, calibration: bool = True
                 ) -> dict[str, Any]:
    """Evaluate a saved run on a split of any data set, scaled by the run's temperature when it
    has one and ``calibration``; the result is kept in the run (except by a read-only viewer)."""
    run_dir = Path(run_dir)
    part, classes = run_split(run_dir, split, data=data)
    proba = predict_proba(load_run_model(run_dir), part.images, tta=tta, shift=shift)
    temperature = None
    if calibration:
        proba, temperature = calibrate_proba(run_dir, proba)
    result = compute_metrics(part.labels, proba, classes)
    result["calibration"] = calibration_scores(part.labels, proba)
    result.update(split=split, tta=tta, tta_shift=shift, temperature=temperature,
                  data=str(data) if data else "(the run's own data)")
    if settings.read_only():  # a viewer's runs folder may not be writable: evaluate, keep nothing
        return result
    metrics = runs.read_metrics(run_dir) or {}
    summary = {k: v for k, v in result.items() if k not in ("per_class", "confusion_matrix")}
    metrics.setdefault("evaluations", []).append(summary)
    runs.write_metrics(run_dir, metrics)
    return result


def evaluate_ensemble(run_dirs: list[Path], *, data: DataRef | None = None,
                      split: str = "test", tta: bool = False, shift: int = 0,
                      calibration: bool = True) -> dict[str, Any]:
    """Average the probabilities of several runs over one split. ``calibration``: a temperature
    of the ensemble's own, fitted on the validation split's averaged probabilities (the
    members' temperatures do not add up to the average's)."""
    if len(run_dirs) < 2:
        raise RunError("An ensemble needs at least two runs.")
    dirs = [Path(r) for r in run_dirs]
    part, classes = run_split(dirs[0], split, data=data)
    probas = _member_probas(dirs, part.images, tta=tta, shift=shift, load_model=load_run_model)
    average, temperature = np.mean(probas, axis=0), None
    if calibration:
        from fer_core.core.calibration import apply_temperature, fit_temperature

        val, _ = run_split(dirs[0], "val", data=data)
        val_average = np.mean(_member_probas(dirs, val.images, tta=tta, shift=shift,
                                             load_model=load_run_model), axis=0)
        temperature = fit_temperature(val_average, val.labels)
        average = apply_temperature(average, temperature)
    result = compute_metrics(part.labels, average, classes)
    result.update(temperature=temperature, calibration=calibration_scores(part.labels, average))
    result["members"] = [
        {"run": Path(r).name, "accuracy": float((p.argmax(1) == part.labels).mean())}
        for r, p in zip(run_dirs, probas, strict=True)
    ]
    return result


def predict_images(run_dirs: list[Path], images: np.ndarray, *, tta: bool = False,
                   load_model: Callable[[Path], Any] | None = None, calibration: bool = True,
                   ) -> tuple[tuple[str, ...], np.ndarray]:
    """Probabilities for 48x48 grey faces from one run or the average of several; with ``tta``
    each run uses the shifts it was trained for. ``load_model``: the Predict page's cached
    models. Only one run's probabilities are calibrated: an average has no stored temperature."""
    run_dirs = [Path(r) for r in run_dirs]
    probas = _member_probas(run_dirs, images, tta=tta, shift=None if tta else 0,
                            load_model=load_model or load_run_model)
    average = np.mean(probas, axis=0)
    if calibration and len(run_dirs) == 1:
        average, _ = calibrate_proba(run_dirs[0], average)
    return run_classes(run_dirs[0]), average


def _member_probas(run_dirs: list[Path], images: np.ndarray, *, tta: bool, shift: int | None,
                   load_model: Callable[[Path], Any]) -> list[np.ndarray]:
    """Each run's probabilities over the same images; ``shift`` None: each run's own."""
    shared_classes(run_dirs)
    return [predict_proba(load_model(run_dir), images, tta=tta,
                          shift=run_tta_shift(run_dir) if shift is None else shift)
            for run_dir in run_dirs]
