"""The Explore page's Suspect labels tab. The pass trains models, so it is a heavy task
(``fer_core.tasks.suspects``) that waits behind training; the tab reads the latest pass's
``suspects.csv``, so a rerun, a new session or a restart shows the last result again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from fer_core.core import settings
from fer_core.core.errors import FerError
from fer_core.data import Dataset, overrides
from fer_core.runs import task_folders
from fer_core.tasks import suspects
from ui import task_panel
from ui.state import data_ref, keep_valid, mtime, runs_root
from views import explore as explore_views
from views import suspects as views
from views.progress import ACTIVE_STATES

PER_PAGE = 24
BULK_DEFAULT = 100  # the bulk action's first offer: a page's worth is too few on FER-2013
COLUMNS = 4
ZOOM = 2


@st.cache_data(max_entries=4, show_spinner=False)
def _table(fingerprint: str, root: str, stamp: float) -> pd.DataFrame | None:
    return suspects.read_suspects(fingerprint, runs_root=Path(root))


def render_suspects(ds: Dataset) -> None:
    """The whole tab: a finished pass's gallery, a running pass's progress, or a start button."""
    st.caption("Images whose label a model trained without them disagrees with most "
               "(out-of-fold predictions ranked by cleanlab's confident learning). Exclude an "
               "image or relabel it: your files never change; the choice is stored for this "
               "data set and applied to jobs launched from now on.")
    root = runs_root()
    task = suspects.latest_pass(ds.fingerprint, runs_root=root)
    running = task_panel.render(task, key="explore.suspects") in ACTIVE_STATES
    done = suspects.latest_pass(ds.fingerprint, runs_root=root, state="succeeded")
    table = _table(ds.fingerprint, str(root), mtime(done / suspects.RESULT) if done else
                   mtime(suspects.csv_path(ds.fingerprint)))
    label = "Find suspect labels again" if table is not None else "Find suspect labels"
    if st.button(label, key="explore.suspects_start", disabled=running or settings.read_only(),
                 icon=":material/search:",
                 help=f"Trains {suspects.DEFAULT_FOLDS} quick models as a job (minutes on "
                      "FER-2013); it waits for a training job that is running."):
        task_panel.submit(suspects.KIND, lambda: suspects.spec(data_ref(), ds),
                          subject=ds.fingerprint)
    if table is None:
        if not running:
            st.info("No pass has run on this data set yet.", icon=":material/info:")
        return
    result = task_folders.read_result(done) if done else None
    _gallery(ds, table, (result or {}).get("n_images"))


def _gallery(ds: Dataset, table: pd.DataFrame, n_images: int | None) -> None:
    chosen = overrides.load(ds.fingerprint)
    st.markdown(views.summary_text(table, n_images, chosen))
    if not table.empty:
        _bulk(ds, len(table))
    left, middle, right = st.columns(3)
    filters = {}
    for column, name, text in ((left, "given", "Given label"),
                               (middle, "suggested", "Suggested label")):
        options = views.filter_options(table, name)
        keep_valid(f"explore.suspects_{name}", options)
        filters[name] = column.selectbox(text, options, key=f"explore.suspects_{name}")
    frame = views.gallery_frame(table, ds, chosen, **filters)
    pages = max((len(frame) - 1) // PER_PAGE + 1, 1)
    page = right.number_input(f"Page (of {pages})", 1, pages, 1, key="explore.suspects_page")
    shown = frame.iloc[(page - 1) * PER_PAGE: page * PER_PAGE]
    if shown.empty:
        st.write("No suspects match these filters.")
    for start in range(0, len(shown), COLUMNS):
        for column, row in zip(st.columns(COLUMNS), shown.iloc[start:start + COLUMNS]
                               .itertuples(), strict=False):
            _card(column, ds, row)


def _card(column, ds: Dataset, row) -> None:
    with column:
        st.image(explore_views.upscale(ds.images[row.row], ZOOM), caption=views.caption(row),
                 width=ZOOM * settings.IMAGE_SIZE)
        choices = (("Exclude", "x", None, "Leave it out"),
                   ("Relabel", "r", row.suggested, f"Train on it as {row.suggested}"),
                   ("Undo", "u", "", "Back to its given label"))
        for cell, (text, tag, label, why) in zip(st.columns(3), choices, strict=True):
            cell.button(text, key=f"explore.suspects_{tag}.{row.file}", help=why,
                        disabled=settings.read_only() or (label == "" and not row.choice),
                        on_click=_decide, args=(ds, row.file, label))


def _bulk(ds: Dataset, flagged: int) -> None:
    """Exclude the N most suspect at once, or bring them back: FER-2013 flags thousands."""
    with st.expander("Exclude the most suspect at once"):
        left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
        left.number_input("How many, most suspect first", 1, flagged,
                          min(BULK_DEFAULT, flagged), key="explore.suspects_bulk")
        disabled = settings.read_only()
        middle.button("Exclude them", key="explore.suspects_bulk_x", disabled=disabled,
                      on_click=_decide_many, args=(ds, True))
        right.button("Bring them back", key="explore.suspects_bulk_u", disabled=disabled,
                     on_click=_decide_many, args=(ds, False))


def _decide_many(ds: Dataset, exclude: bool) -> None:
    """The number is read when the button is pressed, not when the button was drawn."""
    count = int(st.session_state.get("explore.suspects_bulk") or 0)
    try:
        suspects.exclude_most_suspect(ds, count, undo=not exclude, runs_root=runs_root())
    except FerError as err:
        st.toast(str(err), icon=":material/error:")


def _decide(ds: Dataset, image_id: str, label: str | None) -> None:
    """Write the choice: ``None`` excludes, ``""`` undoes, a class name relabels."""
    try:
        if label is None:
            overrides.exclude(ds, image_id)
        elif label:
            overrides.relabel(ds, image_id, label)
        else:
            overrides.restore(ds, image_id)
    except FerError as err:
        st.toast(str(err), icon=":material/error:")
