"""What the Explore page shows, as plain data. Frames are "long" (a row per split and class)
because Altair wants that; the tables a person reads are pivoted with :func:`counts_table`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from fer_core.core.config import TrainConfig, config_fields
from fer_core.core.emotions import EMOTIONS
from fer_core.core.errors import DataError
from fer_core.data import SPLITS, Dataset, split_validation
from fer_core.data.audit import AuditReport
from fer_core.data.loading import LoadReport
from views import forms

# Fixed histogram ranges, so two data sets (or two classes) are drawn on the same axis:
# a pixel mean lies in 0-255, and the standard deviation of values in 0-255 is at most 127.5.
STAT_RANGES: dict[str, tuple[float, float]] = {"brightness": (0.0, 255.0), "contrast": (0.0, 128.0)}

# Augmentation fields the preview leaves out: ``augment`` is the master switch (the preview is
# always on), and mixup blends two images and their labels, which one face cannot show.
_NOT_PREVIEWED = ("augment", "mixup")


# --- What the data set is ------------------------------------------------------------------------

def dataset_caption(ds: Dataset) -> str:
    """Name, size, classes and split sizes on one line, so a screenshot says what it shows."""
    counts = ds.index["split"].value_counts()
    splits = " / ".join(f"{name} {int(counts[name]):,}" for name in SPLITS if name in counts)
    return (f"**{ds.name}** · {len(ds):,} images · {len(ds.classes)} classes · {splits} · "
            f"`{ds.location}`")


# --- Class distribution --------------------------------------------------------------------------

def distribution_frame(ds: Dataset) -> pd.DataFrame:
    """Images per split and class, with each class's share of its split; every class in every
    split (count 0 where it has none), in class order, so charts and tables line up."""
    counts = ds.counts().melt(ignore_index=False, var_name="split", value_name="count")
    frame = counts.reset_index(names="label")[["split", "label", "count"]]
    totals = frame.groupby("split", sort=False)["count"].transform("sum")
    frame["share"] = (frame["count"] / totals.where(totals > 0, 1)).astype(float)
    return frame


def counts_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`distribution_frame` as a table to read, class x split, with ``total`` and the
    ``train share`` the imbalance call-out quotes."""
    splits = list(dict.fromkeys(frame["split"]))
    labels = list(dict.fromkeys(frame["label"]))
    table = frame.pivot(index="label", columns="split", values="count")
    table = table.reindex(index=labels, columns=splits, fill_value=0).astype(int)
    table["total"] = table[splits].sum(axis=1)
    if "train" in splits:
        table["train share"] = table["train"] / max(int(table["train"].sum()), 1)
    table.columns.name = None
    table.index.name = "class"
    return table


# --- Samples -------------------------------------------------------------------------------------

def sample_ids(ds: Dataset, per_class: int, seed: int, label: str | None = None
               ) -> dict[str, list[int]]:
    """Row positions of up to ``per_class`` random images of each class (or of ``label``). Each
    class has its own generator, seeded by ``(seed, class number)``, so more images of one class
    show the same first faces plus new ones, whatever other classes exist."""
    if per_class < 1:
        raise DataError(f"per_class must be at least 1; got {per_class}.")
    if label is not None and label not in ds.classes:
        raise DataError(f"label must be one of {', '.join(ds.classes)}; got {label!r}.")
    labels = ds.index["label"].to_numpy()
    chosen = {}
    for number, name in enumerate(ds.classes):
        if label is not None and name != label:
            continue
        rows = np.flatnonzero(labels == name)
        order = np.random.default_rng([seed, number]).permutation(len(rows))
        chosen[name] = [int(r) for r in rows[order[:per_class]]]
    return chosen


def class_rows(ds: Dataset, label: str, *, split: str | None = None) -> np.ndarray:
    """Row positions of one class's images, in index order (for "image number k"); with
    ``split``, only that split's, unless the class has none there."""
    if label not in ds.classes:
        raise DataError(f"label must be one of {', '.join(ds.classes)}; got {label!r}.")
    of_class = ds.index["label"].to_numpy() == label
    if split is not None:
        in_split = of_class & (ds.index["split"].to_numpy() == split)
        if in_split.any():
            of_class = in_split
    return np.flatnonzero(of_class)


def captions(ds: Dataset, rows: list[int], *, with_label: bool = False) -> list[str]:
    """Short image captions: split and file name (the full id is too long under 96 px)."""
    index = ds.index
    out = []
    for row in rows:
        name = PurePosixPath(str(index.at[row, "id"])).name
        text = f"{index.at[row, 'split']} · {name}"
        out.append(f"{index.at[row, 'label']} · {text}" if with_label else text)
    return out


def upscale(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Enlarge by pixel repetition (nearest neighbour): 48 px faces are tiny on a screen, and a
    smoothing filter would invent detail the model never sees. Works on (..., H, W) arrays."""
    if factor < 1:
        raise DataError(f"factor must be a whole number >= 1; got {factor}.")
    image = np.asarray(image)
    if image.ndim < 2:
        raise DataError(f"image must have at least 2 dimensions (H, W); got {image.shape}.")
    return image.repeat(factor, axis=-2).repeat(factor, axis=-1)


# --- Load report ---------------------------------------------------------------------------------

def load_report_caption(report: LoadReport) -> str:
    return (f"{report.n_loaded:,} of {report.n_listed:,} images loaded · "
            f"{report.converted_to_grey:,} converted to grey · {report.resized:,} resized to "
            f"48x48 · {len(report.skipped):,} skipped"
            + (" · from the disk cache" if report.from_cache else ""))


def classes_caption(classes: tuple[str, ...]) -> str:
    """The classes found, in model output order; names beyond the seven emotions are pointed
    out, since a folder the user meant as an emotion (a typo) would show up here."""
    others = [c for c in classes if c not in EMOTIONS]
    extra = (f" ({', '.join(others)}: not one of the seven emotions, each its own class)"
             if others else "")
    return f"{len(classes)} classes found: {', '.join(classes)}{extra}."


def skipped_frame(report: LoadReport) -> pd.DataFrame:
    return pd.DataFrame(report.skipped, columns=["file", "reason"])


def load_report_notes(report: LoadReport) -> list[str]:
    """Everything else worth a warning: ignored files, empty class folders, links not followed."""
    notes = []
    if report.ignored_files:
        n = len(report.ignored_files)
        shown = ", ".join(report.ignored_files[:5]) + (f" and {n - 5:,} more" if n > 5 else "")
        notes.append(f"{n:,} non-image files ignored ({shown}).")
    notes.extend(f"Class folder {f} holds no images." for f in report.empty_class_folders)
    notes.extend(f"Not followed: {link} links outside the data folder."
                 for link in report.outside_links)
    return notes


# --- Image statistics and the audit --------------------------------------------------------------

def stat_histogram(stats: pd.DataFrame, column: str, *, bins: int = 32) -> pd.DataFrame:
    """Per-class histogram of one image statistic; ``share`` is within the class. Binned here,
    not by Altair, so a rerun sends the browser a row per class and bin, not 32k raw rows."""
    if column not in STAT_RANGES:
        raise DataError(f"column must be one of {', '.join(STAT_RANGES)}; got {column!r}.")
    if bins < 1:
        raise DataError(f"bins must be at least 1; got {bins}.")
    low, high = STAT_RANGES[column]
    edges = np.linspace(low, high, bins + 1)
    rows = []
    for label, values in stats.groupby("label", sort=False)[column]:
        counts, _ = np.histogram(np.clip(values.to_numpy(), low, high), bins=edges)
        total = max(int(counts.sum()), 1)
        rows.extend((label, edges[i], edges[i + 1], (edges[i] + edges[i + 1]) / 2, int(c),
                     c / total) for i, c in enumerate(counts))
    return pd.DataFrame(rows, columns=["label", "bin_start", "bin_end", "bin_mid", "count",
                                       "share"])


def stat_summary(stats: pd.DataFrame, classes: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Median brightness and contrast per class: a dark or washed-out class shows up here."""
    grouped = stats.groupby("label")
    table = pd.DataFrame({"images": grouped.size(),
                          "median brightness": grouped["brightness"].median(),
                          "median contrast": grouped["contrast"].median()})
    table = table.reindex([c for c in classes if c in table.index])
    table.index.name = "class"
    return table


@dataclass(frozen=True)
class Finding:
    """One kind of audit finding, with example groups of images (ids, and ``rows`` into the
    audited arrays) to show side by side."""

    key: str
    title: str
    count: int
    explanation: str
    examples: list[list[str]]
    rows: list[list[int]]


def audit_findings(report: AuditReport, *, limit: int = 6, per_group: int = 6) -> list[Finding]:
    """The audit's four findings with at most ``limit`` example groups of ``per_group`` images."""
    groups = report.exact_duplicate_groups
    kinds = [
        ("blank", "Near-blank images", len(report.blank_ids),
         f"Contrast below {report.max_contrast:g}: no face to learn from.",
         [list(report.blank_ids[:per_group])] if report.blank_ids else []),
        ("exact", "Exact duplicate groups", len(groups),
         f"Groups of identical images: {report.n_redundant_copies:,} redundant copies; "
         f"{len(report.conflicting_groups):,} groups carry conflicting labels.",
         [list(g[:per_group]) for g in groups[:limit]]),
        ("near", "Near duplicates", len(report.near_duplicate_pairs),
         f"Pairs within {report.max_distance} pHash bits whose pixels differ: the same "
         "photo shifted, re-cropped or re-compressed.",
         [[a, b] for a, b, _ in report.near_duplicate_pairs[:limit]]),
        ("leakage", "Train/test leakage", len(report.leaked_test_ids),
         f"Test images with an exact or near copy in train/val "
         f"({len(report.leakage_pairs):,} pairs): test accuracy is optimistic.",
         [list(pair) for pair in report.leakage_pairs[:limit]]),
    ]
    # One lookup table for every example id: building it per group costs more than the rest.
    positions = pd.Index(report.stats["id"])
    return [Finding(key, title, count, explanation, examples,
                    [[int(p) for p in positions.get_indexer(group)] for group in examples])
            for key, title, count, explanation, examples in kinds]


# --- Augmentation preview ------------------------------------------------------------------------

def augmentation_controls() -> list[forms.WidgetSpec]:
    """TrainConfig's per-image augmentation fields, drawn by the Train form's own rule, so the
    preview can never drift from training."""
    return [
        forms.widget_spec(f, slider=True) for f in config_fields()
        if f.metadata["group"] == "augmentation" and f.name not in _NOT_PREVIEWED
    ]


def split_control() -> forms.WidgetSpec:
    """The validation share's slider: TrainConfig's range and default, in 5% steps (finer
    steps preview nothing new)."""
    spec = forms.field_spec("val_fraction", slider=True)
    return dataclasses.replace(spec, label="Validation share of train", step=0.05)


def preview_config(values: dict[str, Any]) -> TrainConfig:
    """A TrainConfig with augmentation on and the given augmentation values (validated)."""
    allowed = {c.name for c in augmentation_controls()}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise DataError(f"augmentation values must be among {', '.join(sorted(allowed))}; "
                        f"got {', '.join(unknown)}.")
    return dataclasses.replace(TrainConfig(), augment=True, **values)


# --- Validation split ----------------------------------------------------------------------------

def split_preview(ds: Dataset, fraction: float, seed: int) -> pd.DataFrame:
    """:func:`distribution_frame` after the stratified validation split training would make
    (a data set with its own ``val`` split keeps it, as in training)."""
    return distribution_frame(split_validation(ds, fraction=fraction, seed=seed))
