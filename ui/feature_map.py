"""The Map tab of Results (and Explore's map): a run's faces placed by how its model sees them.

The features and the map are a task (``fer_core.tasks.features``): the tab starts it, follows
it, and reads the run's ``features/`` once it is there. Drag a box over the map to list its
faces below (with a CSV, and Exclude / Relabel where the data set is at hand); click a face to
see it with its nearest training faces.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from fer_core import runs
from fer_core.core import settings
from fer_core.core.errors import FerError
from fer_core.data import Dataset, overrides
from fer_core.inference.neighbours import DEFAULT_K, TrainingFaces
from fer_core.runs import features as store
from fer_core.tasks import features as features_task
from fer_core.tasks import suspects
from ui import task_panel
from ui.state import keep_valid, mtime, runs_root
from views import feature_map as view
from views import gallery as gallery_view
from views.progress import ACTIVE_STATES

KEY = "map"
SPLIT_KEY, COLOUR_KEY, REGION_KEY = f"{KEY}.split", f"{KEY}.colour", f"{KEY}.region"
GALLERY_FACES = 32
COLUMNS = 8
JUDGED = ("train", "val")  # Exclude and Relabel, as on Suspect labels: test faces stay as given


@st.cache_data(max_entries=8, show_spinner=False)
def _table(path: str, stamp: float, overrides_stamp: float) -> pd.DataFrame | None:
    return store.map_frame(Path(path))


@st.cache_resource(max_entries=4, show_spinner=False)
def _training_faces(path: str, stamp: float, overrides_stamp: float) -> TrainingFaces:
    return TrainingFaces.of_run(Path(path))


def training_faces(run_dir: Path) -> TrainingFaces | None:
    """The run's searchable training faces, kept loaded; ``None`` while it has no features."""
    if not store.has_features(run_dir):
        return None
    return _training_faces(*_stamps(run_dir))


def render_neighbours(where, near: pd.DataFrame, ds: Dataset | None) -> None:
    """A row of nearest training faces: each picture (when the data set is at hand), its label
    and its distance."""
    cells = where.columns(max(len(near), 1))
    for cell, item in zip(cells, near.itertuples(), strict=False):
        _face(cell, ds, item.id, f"{item.label} · {item.distance:.2f}", width=56)


def missing_features_note(run: runs.RunInfo, where=st) -> None:
    """Where nearest faces were asked of a run without features: the way to them."""
    where.info(f"Nearest training faces need {run.run_id}'s features: compute them on "
               "Results > Map (or `python -m fer_core features RUN_DIR`).",
               icon=":material/scatter_plot:")


def _stamps(run_dir: Path) -> tuple[str, float, float]:
    meta = store.read_meta(run_dir) or {}
    fingerprint = str(meta.get("data_fingerprint") or "")
    return (str(run_dir), mtime(store.folder(run_dir) / store.MAP),
            mtime(overrides.overrides_path(fingerprint)) if fingerprint else 0.0)


def render(run: runs.RunInfo, ds: Dataset | None, *, key: str = KEY,
           marks: dict[str, str] | None = None) -> None:
    """The map of ``run``; ``ds``: the data set when it is the run's and at hand (faces are
    drawn from it), else ``None`` (the map still shows, without pictures); ``marks``: the data
    audit's findings to mark (``views.feature_map.audit_marks``)."""
    task = features_task.latest(run.path, runs_root=runs_root())
    running = task_panel.render(task, key=f"{key}.task") in ACTIVE_STATES
    meta = store.read_meta(run.path)
    if meta is None:
        st.info(f"{run.run_id} has no map yet. Computing its features takes a minute or two "
                "on FER-2013 with 2 cores, as a job.", icon=":material/scatter_plot:")
        _start_button(run, running, "Compute features and map", key)
        return
    table = _table(*_stamps(run.path))
    if table is None:
        st.warning(f"{run.run_id}'s map could not be read; compute it again.")
        _start_button(run, running, "Compute features and map again", key)
        return
    _render_map(run, table, meta, ds, key, marks)
    with st.expander("About this map"):
        st.caption(view.about_text(meta))
        _start_button(run, running, "Compute features and map again", key)


def _start_button(run: runs.RunInfo, running: bool, text: str, key: str) -> None:
    if st.button(text, key=f"{key}.start", disabled=running or settings.read_only(),
                 icon=":material/scatter_plot:"):
        task_panel.submit(features_task.KIND, lambda: features_task.spec(run.path),
                          subject=run.run_id)


def _render_map(run: runs.RunInfo, table: pd.DataFrame, meta: dict, ds: Dataset | None,
                key: str, marks: dict[str, str] | None) -> None:
    suspect_table = suspects.read_suspects(str(meta.get("data_fingerprint") or ""),
                                           runs_root=runs_root())
    left, right = st.columns(2)
    splits = [s for s in view.MAP_SPLITS if s in set(table["split"])]
    keep_valid(f"{key}.split", splits)
    split = left.radio("Faces", splits, key=f"{key}.split", horizontal=True,
                       format_func=view.MAP_SPLITS.get)
    options = view.colourings(suspect_table is not None)
    keep_valid(f"{key}.colour", options)
    colour = right.radio("Colour by", options, key=f"{key}.colour", horizontal=True,
                         format_func=view.COLOURINGS.get)
    rows = view.points(table, split, suspect_table, marks)
    shown = view.drawn(rows, seed=int(meta.get("seed", 0)))
    if len(shown) < len(rows):
        st.caption(f"Drawing {len(shown):,} of the {len(rows):,} faces (a fixed sample); a "
                   "box you drag lists every face inside it.")
    kept = view.parse_region(st.session_state.get(f"{key}.region"))  # a link's, or the last
    event = st.altair_chart(view.map_chart(shown, colour, meta.get("classes", []), region=kept),
                            on_select="rerun", key=f"{key}.chart",
                            selection_mode=[view.BRUSH, view.PICK])
    region = _region(event, kept, key)
    picked = view.picked_face(event)
    if picked is not None:
        _render_face(run, rows, picked, ds, key)
    _render_region(rows, region, ds, key)


def _region(event, kept: view.Region | None, key: str) -> view.Region | None:
    """The box to list: the chart's when it changed since the last run (a drag, or a clear),
    else the kept one, so a linked box lists its faces before anyone touches the chart."""
    reported = view.region_text(view.selected_region(event))
    if reported != st.session_state.get(f"{key}.reported"):
        st.session_state[f"{key}.reported"] = reported
        st.session_state[f"{key}.region"] = reported
    return view.parse_region(st.session_state.get(f"{key}.region"))


def _render_face(run: runs.RunInfo, rows: pd.DataFrame, face_id: str, ds: Dataset | None,
                 key: str) -> None:
    row = rows[rows["id"] == face_id]
    if row.empty:
        return
    st.subheader("The face you clicked")
    near = training_faces(run.path).nearest_to_faces([face_id], DEFAULT_K + 1)
    near = near[near["id"] != face_id].head(DEFAULT_K)
    first = row.iloc[0]
    cells = st.columns(DEFAULT_K + 1)
    _face(cells[0], ds, face_id, gallery_view.caption(first["true"], first["pred"],
                                                      first["confidence"]))
    for cell, item in zip(cells[1:], near.itertuples(), strict=False):
        _face(cell, ds, item.id, f"{item.label}, distance {item.distance:.2f}")
    st.caption(f"Left: {face_id}. Then its {len(near)} nearest training faces in the model's "
               "feature space, with their labels: the examples this prediction rests on.")


def _face(cell, ds: Dataset | None, face_id: str, caption: str, *, width: int = 96) -> None:
    position = gallery_view.locate(pd.DataFrame({"id": [face_id]}), ds.index["id"]
                                   ) if ds is not None else pd.DataFrame()
    if len(position):
        cell.image(ds.images[int(position["position"].iloc[0])], width=width)
    cell.markdown(caption)


def _render_region(rows: pd.DataFrame, region: view.Region | None, ds: Dataset | None,
                   key: str) -> None:
    inside = view.in_region(rows, region)
    if region is None:
        st.caption("Drag a box over the map to list the faces inside it; click a face to see "
                   "its nearest training faces.")
        return
    st.subheader(f"{len(inside):,} faces in the box")
    if inside.empty:
        return
    st.download_button("Download them (CSV)", view.export_frame(inside).to_csv(index=False),
                       file_name="fer-studio-map-faces.csv", mime="text/csv",
                       key=f"{key}.csv", on_click="ignore")
    if ds is None:
        st.caption("Choose the run's data set in the sidebar to see these faces.")
        return
    found = gallery_view.locate(inside, ds.index["id"]).head(GALLERY_FACES)
    for start in range(0, len(found), COLUMNS):
        for cell, row in zip(st.columns(COLUMNS), found.iloc[start:start + COLUMNS].itertuples(),
                             strict=False):
            cell.image(ds.images[row.position], width=72)
            cell.markdown(gallery_view.caption(row.true, row.pred, row.confidence))
    if len(inside) > len(found):
        st.caption(f"Showing the {len(found)} least confident; the CSV has all {len(inside):,}.")
    judged = inside[inside["split"].isin(JUDGED)]
    if len(judged):
        _region_actions(ds, judged, key)


def _region_actions(ds: Dataset, judged: pd.DataFrame, key: str) -> None:
    """Exclude or relabel the box's training and validation faces at once, or undo that."""
    with st.expander(f"Exclude or relabel these {len(judged):,} faces"):
        st.caption("As on Explore's Suspect labels: your files never change; the choice is "
                   "stored for this data set and applied to jobs launched from now on.")
        ids = judged["id"].tolist()
        left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
        target = left.selectbox("Relabel as", list(ds.classes), key=f"{key}.relabel_to")
        disabled = settings.read_only()
        middle.button("Relabel", key=f"{key}.relabel", disabled=disabled,
                      on_click=_decide, args=(ds, ids, target))
        right.button("Exclude", key=f"{key}.exclude", disabled=disabled,
                     on_click=_decide, args=(ds, ids, None))
        st.button("Back to their given labels", key=f"{key}.restore", disabled=disabled,
                  on_click=_decide, args=(ds, ids, ""))


def _decide(ds: Dataset, ids: list[str], label: str | None) -> None:
    """``None`` excludes, ``""`` undoes, a class name relabels; the map reads the change."""
    try:
        if label is None:
            overrides.exclude(ds, *ids)
        elif label:
            overrides.relabel(ds, ids[0], label, *ids[1:])
        else:
            overrides.restore(ds, *ids)
    except FerError as err:
        st.toast(str(err), icon=":material/error:")
