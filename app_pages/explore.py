"""Explore: what the data set holds before anything is trained on it. Each section is a tab
that runs only when open, and everything costly is cached by the data set's fingerprint, so a
rerun on the full FER-2013 redraws from cache."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from fer_core.core.settings import IMAGE_SIZE
from fer_core.data import Dataset, audit_cache, imbalance_callout, summarize
from fer_core.training.augment import augment_preview  # loads TensorFlow on the first draw
from ui import explore_map
from ui.config_form import render_widget
from ui.state import current_dataset, keep_valid, show_table
from ui.suspects import render_suspects
from ui.warmup import warm_tensorflow
from views import data_charts, explore

SECTIONS = ("Classes", "Samples", "Image quality", "Augmentation", "Validation split",
            "Suspect labels", "Map")
ALL_CLASSES = "All classes"
ZOOM = 2  # 48 px faces shown at 96 px
MORE_OF_ONE_CLASS = 4  # a single class shows this many times the per-class number
STATS = ("brightness", "contrast")

st.session_state.setdefault("explore.seed", 0)
st.session_state.setdefault("explore.aug_seed", 0)


# --- cached work, keyed by the data set's fingerprint (the Dataset itself is not hashed) -------

@st.cache_data(max_entries=8, show_spinner=False)
def _overview(fingerprint: str, _ds: Dataset) -> tuple[str, pd.DataFrame, str]:
    return (explore.dataset_caption(_ds), explore.distribution_frame(_ds),
            imbalance_callout(summarize(_ds)))


def _quality(ds: Dataset) -> dict[str, Any]:
    """The quality tab's content: from memory, else from the disk cache, else the audit runs
    once per data set with a progress bar over its slow part (the pairwise search)."""
    if not audit_cache.is_cached(ds):
        bar = st.progress(0.0, text="Auditing images for blanks and duplicates (once per data "
                          "set; later visits read the result from the cache)...")
        audit_cache.cached_audit(ds, progress=lambda done: bar.progress(
            done, text=f"Searching for near duplicates: {done:.0%}"))
        bar.empty()
    return _quality_view(ds.fingerprint, ds)


@st.cache_data(max_entries=4, show_spinner=False)
def _quality_view(fingerprint: str, _ds: Dataset) -> dict[str, Any]:
    """Everything the quality tab shows, small, from the cached audit."""
    report = audit_cache.cached_audit(_ds)
    return {
        "histograms": {stat: explore.stat_histogram(report.stats, stat) for stat in STATS},
        "summary": explore.stat_summary(report.stats, _ds.classes),
        "lines": report.summary(),
        "findings": explore.audit_findings(report),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def _train_rows(fingerprint: str, label: str, _ds: Dataset) -> np.ndarray:
    """The class's training images: augmentation only ever sees those."""
    return explore.class_rows(_ds, label, split="train")


@st.cache_data(max_entries=32, show_spinner="Drawing augmentations (the first draw loads "
               "TensorFlow, a few seconds)...")
def _augment(image: np.ndarray, values: tuple[tuple[str, Any], ...], n: int, seed: int
             ) -> np.ndarray:
    return augment_preview(image, explore.preview_config(dict(values)), n=n, seed=seed)


@st.cache_data(max_entries=16, show_spinner=False)
def _split_preview(fingerprint: str, fraction: float, seed: int, _ds: Dataset) -> pd.DataFrame:
    return explore.split_preview(_ds, fraction, seed)


# --- small helpers --------------------------------------------------------------------------

def _show_counts(frame: pd.DataFrame) -> None:
    show_table(explore.counts_table(frame))


def _show_images(ds: Dataset, rows: list[int], captions: list[str]) -> None:
    st.image([explore.upscale(ds.images[r], ZOOM) for r in rows], caption=captions,
             width=ZOOM * IMAGE_SIZE)


def _bump(key: str) -> None:
    st.session_state[key] += 1


# --- sections -------------------------------------------------------------------------------

def _render_header(ds: Dataset) -> None:
    st.caption(_overview(ds.fingerprint, ds)[0])
    if ds.synthetic:
        st.badge("Synthetic demo data", icon=":material/science:", color="orange")
        st.info("These are generated cartoon faces, so every page works before you have data. "
                "Point the sidebar at a FER-2013 download to explore real faces.",
                icon=":material/info:")
    report = ds.report
    st.caption(explore.load_report_caption(report))
    st.caption(explore.classes_caption(ds.classes))
    if report.skipped:
        with st.expander(f"Skipped files ({len(report.skipped):,})"):
            show_table(explore.skipped_frame(report))
    for note in explore.load_report_notes(report):
        st.warning(note, icon=":material/warning:")


def _render_classes(ds: Dataset) -> None:
    _, frame, callout = _overview(ds.fingerprint, ds)
    st.info(f"**Imbalance:** {callout}", icon=":material/balance:")
    st.caption("Train can weight the loss (class weights), oversample rare classes or drop a "
               "class; the rarest class is the one a model learns last.")
    st.altair_chart(data_charts.class_distribution_chart(frame))
    _show_counts(frame)


def _render_samples(ds: Dataset) -> None:
    options = [ALL_CLASSES, *ds.classes]
    keep_valid("explore.class", options)
    left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    per_class = left.slider("Images per class", 1, 16, 6, key="explore.per_class")
    choice = middle.selectbox("Class", options, key="explore.class",
                              help="Pick one class to see more of it.")
    right.button("Reshuffle", key="explore.reshuffle", icon=":material/shuffle:",
                 on_click=_bump, args=("explore.seed",))
    seed = st.session_state["explore.seed"]
    if choice == ALL_CLASSES:
        chosen = explore.sample_ids(ds, per_class, seed)
    else:
        chosen = explore.sample_ids(ds, per_class * MORE_OF_ONE_CLASS, seed, label=choice)
    counts = ds.index["label"].value_counts()
    for label, rows in chosen.items():
        st.markdown(f"**{label}** · {len(rows)} of {int(counts.get(label, 0)):,} images")
        _show_images(ds, rows, explore.captions(ds, rows))


def _render_quality(ds: Dataset) -> None:
    quality = _quality(ds)
    for column, stat in zip(st.columns(2), STATS, strict=True):
        column.altair_chart(data_charts.stat_distribution_chart(quality["histograms"][stat], stat))
    show_table(quality["summary"])
    st.subheader("Audit")
    st.markdown("\n".join(f"- {line}" for line in quality["lines"]))
    for finding in quality["findings"]:
        with st.expander(f"{finding.title}: {finding.count:,}"):
            st.caption(finding.explanation)
            if not finding.rows:
                st.write("None found.")
            for rows in finding.rows:
                _show_images(ds, rows, explore.captions(ds, rows, with_label=True))


def _render_augmentation(ds: Dataset) -> None:
    controls = explore.augmentation_controls()
    keep_valid("explore.aug_class", ds.classes)
    left, right = st.columns([1, 2])
    with left:
        label = st.selectbox("Class", ds.classes, key="explore.aug_class")
        rows = _train_rows(ds.fingerprint, label, ds)
        if st.session_state.get("explore.aug_index", 0) >= len(rows):
            del st.session_state["explore.aug_index"]
        number = st.number_input(f"Image number (0-{len(rows) - 1:,})", min_value=0,
                                 max_value=len(rows) - 1, step=1, key="explore.aug_index")
        n = st.slider("Draws", 2, 12, 6, key="explore.aug_n")
        values = {c.name: render_widget(c, f"explore.aug.{c.name}") for c in controls}
        buttons = st.columns(2)
        buttons[0].button("Redraw", key="explore.aug_redraw", icon=":material/casino:",
                          on_click=_bump, args=("explore.aug_seed",), help="New random draws")
        buttons[1].button("Defaults", key="explore.aug_reset", help="TrainConfig's defaults",
                          on_click=_reset_controls, args=([c.name for c in controls],))
    with right:
        row = int(rows[number])
        draws = _augment(ds.images[row], tuple(values.items()), n,
                         st.session_state["explore.aug_seed"])
        st.caption(f"{explore.captions(ds, [row])[0]}: the original, then {n} random draws "
                   "of the augmentation training applies to each batch.")
        images = [explore.upscale(ds.images[row], ZOOM), *explore.upscale(draws, ZOOM)]
        st.image(images, caption=["original", *(f"draw {i + 1}" for i in range(n))],
                 width=ZOOM * IMAGE_SIZE)


def _reset_controls(names: list[str]) -> None:
    for name in names:
        st.session_state.pop(f"explore.aug.{name}", None)


def _render_split(ds: Dataset) -> None:
    left, right = st.columns(2)
    with left:
        fraction = render_widget(explore.split_control(), "explore.val_fraction")
    seed = right.number_input("Seed", min_value=0, value=0, step=1, key="explore.split_seed")
    if "val" in set(_overview(ds.fingerprint, ds)[1]["split"]):
        st.info("This data set has its own validation split; training keeps it as it is, "
                "so the share above has no effect.", icon=":material/info:")
    frame = _split_preview(ds.fingerprint, float(fraction), int(seed), ds)
    st.altair_chart(data_charts.split_chart(frame))
    _show_counts(frame)


# --- the page -------------------------------------------------------------------------------

st.title("Explore")
dataset = current_dataset()
_render_header(dataset)
tabs = st.tabs(SECTIONS, key="explore.section", on_change="rerun")
renderers = (_render_classes, _render_samples, _render_quality, _render_augmentation,
             _render_split, render_suspects, explore_map.render)
for tab, render in zip(tabs, renderers, strict=True):
    with tab:
        if tab.open:
            render(dataset)
warm_tensorflow()  # after drawing: the Augmentation tab then opens without the import wait
