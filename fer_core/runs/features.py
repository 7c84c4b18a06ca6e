"""A run's features and map, as the ``features`` task leaves them in the run's ``features/``:

- ``features.npz``: for each split, the face ids and their features (float16, the input of the
  model's final Dense layer; half the size of float32, and a map or a neighbour search loses
  nothing to it);
- ``map.csv``: one row per face: split, id, the label it had when the features were taken, the
  model's prediction and confidence, and its place on the 2-D map;
- ``features.json``: what they were computed from (data set and its fingerprint, layer, seed)
  and how long it took.

The folder is written elsewhere and swapped in whole, so a reader never sees half of it; it is
left out of run zips (recomputed in a minute or two from the model). Labels change after the
fact (Exclude and Relabel on Explore), the features do not: :func:`map_frame` applies the data
set's current label overrides each time it is read, so the map is never stale about them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core import atomic
from fer_core.data import overrides

ARRAYS = "features.npz"
MAP = "map.csv"
META = "features.json"
MAP_COLUMNS = ["split", "id", "label", "pred", "confidence", "x", "y"]


def folder(run_dir: Path) -> Path:
    return runs.files(run_dir).features


def read_meta(run_dir: Path) -> dict[str, Any] | None:
    """What the features were computed from, or ``None`` if the run has none."""
    return atomic.read_json(folder(run_dir) / META)


def has_features(run_dir: Path) -> bool:
    return read_meta(run_dir) is not None and (folder(run_dir) / ARRAYS).is_file()


def write(run_dir: Path, features: Mapping[str, tuple[np.ndarray, np.ndarray]],
          table: pd.DataFrame, meta: dict[str, Any],
          projection: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Keep ``features`` (split -> (ids, features)), the map ``table``, ``meta`` and the
    ``projection`` (mean, components) wide features were reduced by as the run's
    ``features/``, replacing what was there in one swap."""
    final = folder(run_dir)
    staging = atomic.temp_dir(final.parent, ".features-")
    try:
        arrays = {}
        for split, (ids, values) in features.items():
            arrays[f"ids_{split}"] = np.asarray(ids, dtype=str)
            arrays[f"features_{split}"] = np.asarray(values, dtype=np.float16)
        if projection is not None:
            arrays["projection_mean"], arrays["projection_components"] = projection
        np.savez(staging / ARRAYS, **arrays)
        table[MAP_COLUMNS].to_csv(staging / MAP, index=False, float_format="%.5g")
        atomic.write_json(staging / META, meta)
        old = final.with_name(f".{final.name}-old-{os.getpid()}")
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def read_features(run_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A split's face ids and features (float32), or ``None`` if the run has none."""
    try:
        with np.load(folder(run_dir) / ARRAYS) as arrays:
            return arrays[f"ids_{split}"], arrays[f"features_{split}"].astype(np.float32)
    except (OSError, KeyError, ValueError):
        return None


def read_projection(run_dir: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The (mean, components) the kept features were projected with, or ``None`` when they
    were kept whole (or the run has none)."""
    try:
        with np.load(folder(run_dir) / ARRAYS) as arrays:
            if "projection_mean" not in arrays.files:
                return None
            return arrays["projection_mean"], arrays["projection_components"]
    except (OSError, ValueError):
        return None


def read_map(run_dir: Path) -> pd.DataFrame | None:
    """``map.csv`` as written (labels as they were then), or ``None``."""
    try:
        return pd.read_csv(folder(run_dir) / MAP, dtype={"id": str, "label": str, "pred": str,
                                                         "split": str})
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def map_frame(run_dir: Path) -> pd.DataFrame | None:
    """The map with the data set's label overrides as they are now: ``true`` (the label after
    any relabel), ``excluded`` (left out of jobs from now on) and ``correct``."""
    table = read_map(run_dir)
    meta = read_meta(run_dir)
    if table is None or meta is None:
        return None
    chosen = overrides.load(str(meta.get("data_fingerprint") or ""))
    relabel = dict(chosen.relabel)
    true = pd.Series([relabel.get(face, given) for face, given in
                      zip(table["id"], table["label"], strict=True)], index=table.index)
    classes = set(meta.get("classes") or table["label"].unique())
    true = true.where(true.isin(classes), table["label"])  # a relabel to a class the run lacks
    return table.assign(true=true, excluded=table["id"].isin(chosen.exclude),
                        correct=true == table["pred"])
