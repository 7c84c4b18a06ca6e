"""The data set as the rest of FER Studio sees it (one array of 48x48 grey faces and an index),
and the operations training applies to it, each returning a new ``Dataset``: nothing ever moves
or rewrites the user's files."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.core import settings
from fer_core.core.emotions import canonical_emotion
from fer_core.core.errors import DataError
from fer_core.data.classnames import order_classes
from fer_core.data.ferplus import merge_votes
from fer_core.data.loading import LoadReport, cache_path, decode_index, read_cache, write_cache
from fer_core.data.sources import index_source

SPLITS: tuple[str, ...] = ("train", "val", "test")
# The synthetic demo set by name: the text form of that choice (``reference.DataRef``).
DEMO_DATA = "demo"


@dataclass(frozen=True)
class Dataset:
    """Images and their index (``id``, ``split``, ``label``, ``source``), row for row.
    ``classes`` shrinks when classes are dropped or merged: a model's output ``i`` is always
    ``classes[i]``."""

    name: str
    location: str
    fingerprint: str
    images: np.ndarray
    index: pd.DataFrame
    classes: tuple[str, ...]
    report: LoadReport
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.index)

    @property
    def labels(self) -> np.ndarray:
        """Class numbers (``int32``) in the order of ``classes``."""
        lookup = {name: i for i, name in enumerate(self.classes)}
        return self.index["label"].map(lookup).to_numpy(dtype=np.int32)

    def subset(self, mask: np.ndarray | pd.Series) -> Dataset:
        """The rows where ``mask`` is true, images and index kept aligned."""
        mask = np.asarray(mask, dtype=bool)
        return replace(self, images=self.images[mask],
                       index=self.index.loc[mask].reset_index(drop=True))

    def split(self, name: str) -> Dataset:
        """One split (``train``, ``val`` or ``test``); empty if the data set has none."""
        return self.subset(self.index["split"].to_numpy() == name)

    def splits(self) -> list[str]:
        present = set(self.index["split"])
        return [s for s in SPLITS if s in present]

    def counts(self) -> pd.DataFrame:
        """Images per class (rows, in class order) and split (columns)."""
        table = pd.crosstab(self.index["label"], self.index["split"])
        return table.reindex(index=list(self.classes), columns=self.splits(), fill_value=0)


def load_dataset(path: str | Path | None = None, *, use_cache: bool = True) -> Dataset:
    """Load a data set (``None`` or ``"demo"``: the demo), from the disk cache when its files'
    names, sizes and times are unchanged. ``FER_DATA_DIR`` is only a default choice
    (``reference.DataRef``), not read here."""
    synthetic = False
    if path is None or str(path) == DEMO_DATA:
        from fer_core.data.demo import DEMO_NAME, demo_dataset_dir

        path, synthetic, name = demo_dataset_dir(), True, DEMO_NAME
    cache_root = settings.cache_dir()
    source = index_source(Path(path), cache_root=cache_root)
    if not synthetic:
        name = source.root.stem if source.kind == "csv" else source.root.name
    cached = read_cache(cache_path(cache_root, source.fingerprint)) if use_cache else None
    if cached is not None:
        images, index, report = cached
    else:
        images, index, report = decode_index(source.kind, source.index)
        report.ignored_files = list(source.ignored)
        report.empty_class_folders = list(source.empty_class_folders)
        report.outside_links = list(source.outside_links)
        if use_cache and len(index):
            write_cache(cache_path(cache_root, source.fingerprint), images, index, report)
    if not len(index):
        reasons = "; ".join(f"{i}: {r}" for i, r in report.skipped[:3])
        raise DataError(
            f"None of the {report.n_listed:,} images in {path} could be read ({reasons}).")
    classes = order_classes(set(index["label"]))
    return Dataset(name=name, location=str(source.root), fingerprint=source.fingerprint,
                   images=images, index=index, classes=classes, report=report, synthetic=synthetic)


# --- data operations used by training ------------------------------------------------------------

def split_validation(ds: Dataset, *, fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A stratified, seeded validation split out of ``train``, unless the authors gave one."""
    if "val" in set(ds.index["split"]) or fraction <= 0:
        return ds
    if not 0 < fraction < 1:
        raise DataError(f"fraction must be between 0 and 1; got {fraction}.")
    from sklearn.model_selection import train_test_split

    train_rows = np.flatnonzero(ds.index["split"].to_numpy() == "train")
    labels = ds.index["label"].to_numpy()[train_rows]
    values, counts = np.unique(labels, return_counts=True)
    splittable = np.isin(labels, values[counts >= 2])
    rows, n_classes = train_rows[splittable], int((counts >= 2).sum())
    if len(rows) < 2:
        return ds
    # At least one image per class on each side, as stratification needs.
    n_val = min(max(round(fraction * len(rows)), n_classes), len(rows) - n_classes)
    _, val_rows = train_test_split(rows, test_size=n_val, random_state=seed,
                                   stratify=labels[splittable])
    index = ds.index.copy()
    index.loc[val_rows, "split"] = "val"
    return replace(ds, index=index)


def subsample_per_class(
    ds: Dataset, cap: int, *, seed: int = 0, splits: tuple[str, ...] = ("train",)
) -> Dataset:
    """Keep at most ``cap`` images per class in ``splits`` (others untouched), chosen at random."""
    if cap <= 0:
        raise DataError(f"subsample cap must be a positive number of images; got {cap}.")
    rng = np.random.default_rng(seed)
    keep = np.ones(len(ds), dtype=bool)
    in_splits = ds.index["split"].isin(splits).to_numpy()
    for label in ds.classes:
        rows = np.flatnonzero(in_splits & (ds.index["label"].to_numpy() == label))
        if len(rows) > cap:
            keep[rng.choice(rows, size=len(rows) - cap, replace=False)] = False
    return ds.subset(keep)


def drop_classes(ds: Dataset, names: list[str] | tuple[str, ...]) -> Dataset:
    """Remove classes entirely (the seed report trained without ``disgust``)."""
    drop = {_known_class(ds, n) for n in names}
    if not drop:
        return ds
    if len(drop) >= len(ds.classes) - 1:
        raise DataError("At least two classes must remain after dropping classes.")
    kept = ds.subset(~ds.index["label"].isin(drop).to_numpy())
    return replace(kept, classes=tuple(c for c in ds.classes if c not in drop))


def merge_classes(ds: Dataset, mapping: dict[str, str]) -> Dataset:
    """Relabel classes into others, e.g. ``{"disgust": "angry"}``."""
    pairs = {_known_class(ds, src): _known_class(ds, dst) for src, dst in mapping.items()}
    if any(src == dst for src, dst in pairs.items()):
        raise DataError("A class cannot be merged into itself.")
    if not pairs:
        return ds
    index = ds.index.copy()
    index = merge_votes(index, pairs)  # FER+ votes follow their class
    index["label"] = index["label"].replace(pairs)
    classes = tuple(c for c in ds.classes if c not in pairs)
    if len(classes) < 2:
        raise DataError("At least two classes must remain after merging classes.")
    return replace(ds, index=index, classes=classes)


def _known_class(ds: Dataset, name: str) -> str:
    canonical = canonical_emotion(name) or name.strip().lower()
    if canonical not in ds.classes:
        raise DataError(f"class must be one of {', '.join(ds.classes)}; got {name!r}.")
    return canonical


# --- the summary every front end shows -----------------------------------------------------------

def summarize(ds: Dataset) -> dict:
    """Counts per split and class, shares, the imbalance ratio and the load report."""
    counts = ds.counts()
    train = counts["train"] if "train" in counts else counts.sum(axis=1)
    nonzero = train[train > 0]
    shares = (train / max(int(train.sum()), 1)).round(4)
    return {
        "name": ds.name,
        "location": ds.location,
        "synthetic": ds.synthetic,
        "n_images": len(ds),
        "classes": list(ds.classes),
        "counts": {
            split: {label: int(counts.at[label, split]) for label in ds.classes}
            for split in counts.columns
        },
        "train_shares": {label: float(shares[label]) for label in ds.classes},
        "imbalance_ratio": round(float(nonzero.max() / nonzero.min()), 2) if len(nonzero) else None,
        "rarest": str(nonzero.idxmin()) if len(nonzero) else None,
        "most_common": str(nonzero.idxmax()) if len(nonzero) else None,
        "load_report": ds.report.to_dict(),
    }


def imbalance_callout(summary: dict) -> str:
    """One sentence on the imbalance, e.g. "disgust is 1.5% of train, happy 25.1%"."""
    shares = summary["train_shares"]
    rare, common = summary["rarest"], summary["most_common"]
    if rare is None:
        return "No training images."
    return (
        f"{rare} is {shares[rare]:.1%} of train, {common} {shares[common]:.1%} "
        f"(imbalance ratio {summary['imbalance_ratio']}:1).")
