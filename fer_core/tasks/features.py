"""The ``features`` task: a finished run's features of every face, and the map made of them.

    python -m fer_core features RUN [--data PATH]

A light task: one forward pass over the data set (a minute or two for FER-2013 on 2 cores)
and a UMAP fit, in its own process, never in the web server. It writes the run's
``features/`` (``fer_core.runs.features``), which the Map tab, Explore's map and the nearest
examples read.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core.errors import RunError
from fer_core.data import DataRef
from fer_core.inference import feature_map
from fer_core.inference.features import SPLITS, SplitFeatures, fit_projection, run_features
from fer_core.runs import features as store
from fer_core.runs import task_folders
from fer_core.tasks.runner import Progress, TaskContext

KIND = "features"
MAP_SHARE = 0.6  # of the progress bar: the forward pass; UMAP takes the rest


def spec(run_dir: Path, *, data: DataRef | None = None) -> dict[str, Any]:
    """What the task is asked: a finished run (refused at once when it has no model) and the
    data set, the run's own unless another is named."""
    run_dir = Path(run_dir).resolve()
    if not runs.files(run_dir).model.is_file():
        state = runs.effective_state(runs.read_status(run_dir))
        raise RunError(f"Run {run_dir.name} has no model.keras (state: {state}); its features "
                       "can be computed once it has finished.")
    return {"run_dir": str(run_dir), "data": str(data) if data else None}


def latest(run_dir: Path, *, runs_root: Path | None = None, state: str | None = None
           ) -> Path | None:
    """The newest features task of this run: how pages find the one they started."""
    return task_folders.latest(KIND, Path(run_dir).name, runs_root=runs_root, state=state)


def run_task(ctx: TaskContext) -> dict[str, Any]:
    run_dir = Path(ctx.spec["run_dir"])
    data = DataRef.parse(ctx.spec["data"]) if ctx.spec.get("data") else None
    return compute_and_keep(run_dir, data=data, progress=ctx.progress)


def compute_and_keep(run_dir: Path, *, data: DataRef | None = None,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Features, map and table of every face, kept in the run; return the task's result."""
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    started = time.perf_counter()
    report(0.0, "Loading the model and the data set")
    parts, classes, ds = run_features(
        run_dir, data=data, progress=lambda f, m: report(f * MAP_SHARE, m))
    feature_seconds = time.perf_counter() - started
    report(MAP_SHARE, "Laying out the map (UMAP)")
    seed = int(runs.read_config(run_dir).config.get("seed", 0))
    projection = fit_projection(parts["train"].features, seed=seed)
    kept = {name: projection(part.features) if projection else part.features
            for name, part in parts.items()}
    train_xy, others = feature_map.layout(
        kept["train"], {name: kept[name] for name in SPLITS[1:]}, seed=seed)
    places = {"train": train_xy, **others}
    table = pd.concat([_rows(name, parts[name], places[name], classes) for name in SPLITS],
                      ignore_index=True)
    meta = {
        "data": str(data or DataRef.parse(runs.read_config(run_dir).config.get("data"))),
        "data_fingerprint": ds.fingerprint, "classes": list(classes), "seed": seed,
        "dimensions": int(parts["train"].features.shape[1]),
        "kept_dimensions": int(kept["train"].shape[1]),
        "variance_kept": round(projection.variance_kept, 4) if projection else 1.0,
        "pca_dimensions": feature_map.PCA_DIMENSIONS, "faces": {
            name: len(parts[name].split) for name in SPLITS},
        "seconds": {"features": round(feature_seconds, 1),
                    "map": round(time.perf_counter() - started - feature_seconds, 1)},
        "made": runs.now_iso(), "host": platform.node(),
    }
    store.write(run_dir, {name: (parts[name].split.ids, kept[name]) for name in SPLITS}, table,
                meta, (projection.mean, projection.components) if projection else None)
    report(1.0, "Done")
    return {"run_dir": str(run_dir), "faces": meta["faces"], "seconds": meta["seconds"]}


def _rows(split: str, part: SplitFeatures, places: np.ndarray, classes: tuple[str, ...]
          ) -> pd.DataFrame:
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({
        "split": split, "id": part.split.ids, "label": names[part.split.labels],
        "pred": names[part.proba.argmax(axis=1)] if len(part.proba) else [],
        "confidence": part.proba.max(axis=1).round(4) if len(part.proba) else [],
        "x": places[:, 0].round(4), "y": places[:, 1].round(4)})
