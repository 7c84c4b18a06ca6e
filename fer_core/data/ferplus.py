"""FER+ labels: Microsoft's ten-annotator votes for the faces of the original ``fer2013.csv``.

``fer2013new.csv`` holds a row of votes per row of ``fer2013.csv``, in order and without pixels,
so it only works beside that CSV. ``labels=votes`` trains on the distribution, carried as
``votes:<class>`` columns so every row selection keeps it aligned; ``label`` is the majority.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fer_core.core.emotions import EMOTIONS
from fer_core.core.errors import DataError

if TYPE_CHECKING:
    from fer_core.data.dataset import Dataset

FERPLUS_FILE = "fer2013new.csv"
FERPLUS_URL = "https://github.com/microsoft/FERPlus (data/fer2013new.csv)"
LABEL_MODES = ("folder", "majority", "votes")
# FER+'s vote columns, in the file's order, mapped to FER Studio's class names.
VOTE_CLASSES: dict[str, str] = {
    "neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
    "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt",
}
NOT_CLASSES = ("unknown", "NF")  # votes that count in the majority but are no class
FERPLUS_CLASSES: tuple[str, ...] = tuple(sorted({*EMOTIONS, "contempt"}))
VOTE_PREFIX = "votes:"


def ferplus_file_for(ds: Dataset, mode: str) -> Path:
    """Where ``fer2013new.csv`` must be for this data set; a clear error when it is not there."""
    location = Path(ds.location)
    if location.suffix.lower() != ".csv" or not location.is_file():
        raise DataError(f"labels={mode} needs FER+ votes, read from {FERPLUS_FILE} beside the "
                        f"original fer2013.csv; the data set {ds.name!r} ({location}) is not a "
                        f"CSV. Point data at fer2013.csv and put {FERPLUS_FILE} from {FERPLUS_URL} "
                        "in the same folder (the Kaggle folder download has no row order to match "
                        "the votes), or use labels=folder.")
    path = location.parent / FERPLUS_FILE
    if not path.is_file():
        raise DataError(f"labels={mode} needs {FERPLUS_FILE} beside {location.name}: {path} does "
                        f"not exist. Download it from {FERPLUS_URL} into {location.parent}, or use "
                        "labels=folder.")
    return path


def read_votes(path: Path, *, n_rows: int) -> pd.DataFrame:
    """The vote counts of ``fer2013new.csv`` under our class names, ``unknown`` and ``NF``. A
    row without an image name has no face: its ``NF`` then outvotes every other count."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path.name} could not be read as CSV: {err}.") from err
    columns = {c.strip().lower(): c for c in frame.columns}
    wanted = ["image name", *VOTE_CLASSES, *(n.lower() for n in NOT_CLASSES)]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError(
            f"{path.name} must have FER+'s columns Usage, Image name, "
            f"{', '.join(VOTE_CLASSES)}, unknown, NF; it is missing {', '.join(missing)}.")
    if len(frame) != n_rows:
        raise DataError(
            f"{path.name} has {len(frame):,} rows but fer2013.csv has {n_rows:,}; FER+ matches "
            f"the two by row order, so they must be the same length. Use the fer2013.csv that "
            f"FER+ was made for (35,887 rows) and an unmodified {path.name}.")
    names = [*VOTE_CLASSES.values(), *NOT_CLASSES]
    raw = frame[[columns[c] for c in wanted[1:]]].replace("", "0")
    try:
        votes = pd.DataFrame(raw.to_numpy(dtype=np.int64), columns=names)
    except ValueError as err:
        raise DataError(f"{path.name}'s vote columns must hold whole numbers: {err}.") from err
    no_face = frame[columns["image name"]].str.strip() == ""
    votes.loc[no_face, "NF"] = votes.sum(axis=1)[no_face] + 1
    return votes


def majority_labels(votes: pd.DataFrame) -> pd.Series:
    """Each row's most-voted class, or ``None`` for NF, unknown, a tie or no votes at all."""
    counts = votes.to_numpy()
    top = counts.max(axis=1)
    winners = (counts == top[:, None]).sum(axis=1)
    best = np.array(votes.columns)[counts.argmax(axis=1)]
    keep = (top > 0) & (winners == 1) & ~np.isin(best, NOT_CLASSES)
    return pd.Series(np.where(keep, best, None), index=votes.index, dtype=object)


def apply_labels(ds: Dataset, mode: str) -> Dataset:
    """Relabel a ``fer2013.csv`` data set with FER+ (``folder``: unchanged). Rows are matched
    by their line in the CSV (kept in each id), so rows the loader skipped take no votes along."""
    if mode not in LABEL_MODES:
        raise DataError(f"labels must be one of {', '.join(LABEL_MODES)}; got {mode!r}.")
    if mode == "folder":
        return ds
    votes = read_votes(ferplus_file_for(ds, mode), n_rows=ds.report.n_listed)
    rows = _csv_rows(ds.index["id"])
    labels = majority_labels(votes).to_numpy()[rows]
    index = ds.index.copy()
    index["label"] = labels
    if mode == "votes":  # majority trains on one-hot labels: the votes need not travel
        for name in VOTE_CLASSES.values():
            index[VOTE_PREFIX + name] = votes[name].to_numpy(dtype=np.float32)[rows]
    relabelled = replace(ds, index=index).subset(pd.notna(labels))
    present = set(relabelled.index["label"])
    if not present:
        raise DataError(f"No row of {FERPLUS_FILE} has a clear majority for one class.")
    return replace(relabelled, classes=tuple(c for c in FERPLUS_CLASSES if c in present))


def _csv_rows(ids: pd.Series) -> np.ndarray:
    """0-based data rows from ids like ``fer2013.csv:17`` (line 17: after the header)."""
    return ids.str.rsplit(":", n=1).str[1].astype(int).to_numpy() - 2


def soft_targets(index: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray | None:
    """The vote distribution over ``classes`` per row; ``None`` without votes (one-hot then)."""
    columns = [VOTE_PREFIX + name for name in classes]
    if not all(c in index.columns for c in columns):
        return None
    votes = index[columns].to_numpy(dtype=np.float32)
    totals = votes.sum(axis=1, keepdims=True)
    return votes / np.maximum(totals, 1.0)


def merge_votes(index: pd.DataFrame, pairs: dict[str, str]) -> pd.DataFrame:
    """Add a merged class's votes to the class it joins (no-op without votes)."""
    index = index.copy()
    for src, dst in pairs.items():
        if VOTE_PREFIX + src in index.columns and VOTE_PREFIX + dst in index.columns:
            index[VOTE_PREFIX + dst] += index.pop(VOTE_PREFIX + src)
    return index
