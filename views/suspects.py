"""What the Suspect labels tab shows, as plain data: suspects, their overrides, the filters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fer_core.data import Dataset
from fer_core.data.overrides import LabelOverrides

ANY = "any"  # the filter value that keeps every label


def filter_options(table: pd.DataFrame, column: str) -> list[str]:
    """``any`` and the labels that occur in ``column`` (``given`` or ``suggested``), most
    frequent first, so the busiest confusions are at the top of the list."""
    return [ANY, *table[column].value_counts().index.astype(str)]


def gallery_frame(table: pd.DataFrame, ds: Dataset, overrides: LabelOverrides, *,
                  given: str = ANY, suggested: str = ANY) -> pd.DataFrame:
    """The suspects to show, best first, with their row in ``ds.images`` and the user's choice
    (``excluded``, ``relabelled as X`` or empty); images no longer in the data set left out."""
    rows = pd.Series(np.arange(len(ds)), index=ds.index["id"].to_numpy())
    chosen = table
    if given != ANY:
        chosen = chosen[chosen["given"] == given]
    if suggested != ANY:
        chosen = chosen[chosen["suggested"] == suggested]
    chosen = chosen[chosen["file"].isin(rows.index)]
    return chosen.assign(row=rows.loc[chosen["file"]].to_numpy(),
                         choice=[_choice_text(overrides.choice(f)) for f in chosen["file"]])


def caption(row: Any) -> str:
    """One line under a face: what it is labelled, what the model suggests, and how much
    probability the held-out model gave the given label."""
    text = f"#{row.rank} {row.given} → {row.suggested} ({row.self_confidence:.0%})"
    return f"{text} · {row.choice}" if row.choice else text


def summary_text(table: pd.DataFrame, n_images: int | None, overrides: LabelOverrides) -> str:
    judged = f" of {n_images:,} training images" if n_images else ""
    return (f"{len(table):,} suspect labels{judged}, most suspect first. Your choices so far: "
            f"{len(overrides.exclude):,} excluded, {len(overrides.relabel):,} relabelled.")


def _choice_text(choice: str | None) -> str:
    if choice is None:
        return ""
    return "excluded" if choice == "exclude" else f"relabelled as {choice}"
