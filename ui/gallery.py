"""The Results page's Gallery tab: a run's predictions on one split as faces, or Grad-CAMs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from fer_core import runs
from fer_core.data import Dataset
from fer_core.inference.neighbours import DEFAULT_K
from ui import feature_map, state, trust
from views import gallery as view

COLUMNS = 8


@st.cache_data(max_entries=16, show_spinner=False)
def _read_predictions(path: str, stamp: float) -> pd.DataFrame | None:
    return runs.read_predictions(Path(path))


def render(run: runs.RunInfo, split: str | None) -> None:
    predictions = _read_predictions(str(run.path), state.mtime(runs.files(run.path).predictions))
    if predictions is None or split is None:
        st.info(f"{run.run_id} has no predictions.csv, so there is nothing to show.")
        return
    ds = dataset_of(run)
    if ds is None:
        return
    rows = predictions[predictions["split"] == split]
    classes = view.gallery_classes(rows)
    columns = st.columns([2, 2, 1, 2, 1])
    true = columns[0].multiselect("True class", classes, key="results.g_true",
                                  placeholder="any")
    pred = columns[1].multiselect("Predicted class", classes, key="results.g_pred",
                                  placeholder="any")
    errors_only = columns[2].checkbox("Errors only", key="results.g_errors")
    explain = st.toggle("Show Grad-CAM (where each face's evidence lies)", key="results.g_cam")
    nearest = st.toggle("Show nearest training faces (the examples each prediction rests on)",
                        key="results.g_near")
    order = columns[3].selectbox("Sort", list(view.SORTS), key="results.g_sort")
    count = columns[4].number_input("Show", 8, 200, 32, step=8, key="results.g_count")
    rows = view.filter_rows(rows, view.GalleryFilter(true, pred, errors_only, order))
    found = view.locate(rows, ds.index["id"])
    st.caption(f"{len(rows):,} {view.SPLIT_LABELS.get(split, split).lower()} images match; showing "
               f"{min(count, len(found)):,}. Green: right, red: wrong (with the true class).")
    if len(found) < len(rows):
        st.warning(f"{len(rows) - len(found):,} predicted images are not in the current data set.")
    shown = found.iloc[:count]
    faces = ds.images[shown["position"].to_numpy()]
    heat = trust.overlays(run.path, faces) if explain else None
    near = _nearest(run, shown["id"].tolist()) if nearest else None
    render_faces(heat or faces, shown, near=near, ds=ds)


def _nearest(run: runs.RunInfo, face_ids: list[str]) -> pd.DataFrame | None:
    index = feature_map.training_faces(run.path)
    if index is None:
        feature_map.missing_features_note(run)
        return None
    return index.nearest_to_faces(face_ids, DEFAULT_K)


def render_faces(images: Sequence[np.ndarray], rows: pd.DataFrame, *,
                 near: pd.DataFrame | None = None, ds: Dataset | None = None) -> None:
    """``rows`` (predictions) as a grid of their ``images``, each captioned right or wrong;
    with ``near``, each face's nearest training faces behind a button of their labels."""
    for start in range(0, len(rows), COLUMNS):
        for cell, image, row in zip(st.columns(COLUMNS), images[start:start + COLUMNS],
                                    rows.iloc[start:start + COLUMNS].itertuples(), strict=False):
            cell.image(image, width=96)
            cell.markdown(view.caption(row.true, row.pred, row.confidence))
            if near is not None:
                mine = near[near["query"] == row.id]
                with cell.popover(view.neighbour_summary(mine["label"].tolist())):
                    feature_map.render_neighbours(st, mine, ds)


def dataset_if_at_hand(run: runs.RunInfo) -> Dataset | None:
    """The current data set when it is the one the run used, else ``None``, said nowhere."""
    ds = state.current_dataset()
    return ds if view.trained_on(run.data, ds.fingerprint) else None


def dataset_of(run: runs.RunInfo) -> Dataset | None:
    """The current data set when it is the one the run used; otherwise say so."""
    record = run.data or {}
    ds = state.current_dataset()
    if not view.trained_on(record, ds.fingerprint):
        st.info(f"{run.run_id} was trained on {record.get('name', 'another data set')} "
                f"({record.get('location', 'location unknown')}); the current data source is "
                f"{ds.name}. Choose the run's data set in the sidebar to see its images.")
        return None
    return ds
