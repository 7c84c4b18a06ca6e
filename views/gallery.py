"""What the Results gallery shows, as plain data: one split's predictions, filtered and sorted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

SORTS = {"most confident first": False, "least confident first": True}  # label -> ascending
SPLIT_LABELS = {"test": "Test", "val": "Validation"}  # the splits a run has predictions for


@dataclass(frozen=True)
class GalleryFilter:
    """The gallery's filters: empty class lists keep every class."""

    true: Sequence[str] = ()
    pred: Sequence[str] = ()
    errors_only: bool = False
    sort: str = next(iter(SORTS))


def trained_on(run_data: dict | None, fingerprint: str) -> bool:
    """Whether a run's data record (config.json's ``data``) names this data set: only then
    are its predictions' ids the data set's images."""
    return (run_data or {}).get("fingerprint") == fingerprint


def gallery_classes(rows: pd.DataFrame) -> list[str]:
    """Every class that occurs as a true or a predicted label, for the filters' options."""
    return sorted(set(rows["true"]) | set(rows["pred"]))


def filter_rows(rows: pd.DataFrame, chosen: GalleryFilter) -> pd.DataFrame:
    """``rows`` (predictions.csv's rows of one split) kept and ordered as ``chosen`` says; a
    stable sort, so ties keep the file's order and the gallery never reshuffles on a rerun."""
    if chosen.true:
        rows = rows[rows["true"].isin(chosen.true)]
    if chosen.pred:
        rows = rows[rows["pred"].isin(chosen.pred)]
    if chosen.errors_only:
        rows = rows[rows["true"] != rows["pred"]]
    return rows.sort_values("confidence", ascending=SORTS[chosen.sort], kind="stable")


def locate(rows: pd.DataFrame, image_ids: Sequence[str]) -> pd.DataFrame:
    """The rows whose image is in the data set (``image_ids``), with a ``position`` into its
    images; an image since removed from the folder is left out (the page says how many)."""
    positions = pd.Index(image_ids).get_indexer(rows["id"])
    return rows.assign(position=positions)[positions >= 0]


def caption(true: str, pred: str, confidence: float) -> str:
    """Green for a right answer; red with the true class for a wrong one (Streamlit markdown)."""
    if true == pred:
        return f":green[**{pred}** {confidence:.0%}]"
    return f":red[**{pred}** {confidence:.0%}] true: {true}"


def neighbour_summary(labels: Sequence[str]) -> str:
    """A face's nearest training faces in a few characters: "4/5 fear" (the commonest label)."""
    if not labels:
        return "no neighbours"
    counts = pd.Series(list(labels)).value_counts()
    return f"{counts.iloc[0]}/{len(labels)} {counts.index[0]}"
