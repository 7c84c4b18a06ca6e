"""The Results page's "Seed report" tab: the seed report's numbers beside ours, its questions
answered and its figures redrawn from the study runs. A read-only viewer sees the same tab."""

from __future__ import annotations

import streamlit as st

from fer_core import runs
from fer_core.data import Dataset
from fer_core.reports import blocks
from fer_core.reports.seed_report import STUDIES, SeedReport, build_seed_report
from ui import state, viewer
from ui.gallery import render_faces
from views import data_charts, explore, run_charts
from views import seed_report as seed_view
from views.gallery import locate, trained_on

FOCUS_KEY = "results.seed_focus"
GALLERY_SIZE = 16


def render(infos: list[runs.RunInfo]) -> None:
    """``infos``: every readable run, since a study's answer needs all of its group's runs."""
    seed = build_seed_report(infos)
    st.markdown("The seed report trained InceptionV3 with ImageNet weights on FER-2013. Its "
                "numbers are **quoted**; ours are **measured** here by the studies, each a "
                "group of runs that answers one of its questions.")
    if not any(result.arms for result in seed.studies.values()):
        launch = ("Ask whoever runs this FER Studio to launch them." if viewer.is_viewer() else
                  "Launch them from the Train page, or with `python -m fer_core jobs launch "
                  "--study NAME`.")
        st.info(f"No study has finished yet, so nothing below answers the report's questions "
                f"yet. {launch} Studies: {', '.join(s.name for s in STUDIES)}.",
                icon=":material/science:")
    _render_rows(seed)
    _render_answers(seed)
    if seed.measured:
        _render_figures(seed)


def _render_rows(seed: SeedReport) -> None:
    state.show_table(seed.rows.dropna(axis="columns", how="all"), key="results.seed_rows")


def _render_answers(seed: SeedReport) -> None:
    st.subheader("The seed report's questions")
    for study in STUDIES:
        result = seed.studies[study.name]
        group = f" (runs of {result.group})" if result.group else ""
        st.markdown(f"**{study.question}**{group}  \n{seed.answers[study.name]}")


def _render_figures(seed: SeedReport) -> None:
    st.subheader("The report's figures, from these runs")
    frame = seed_view.batch_size_frame(seed)
    if frame.empty:
        st.info("Figures 5a and 5b need the batch-size study, which compares the validation "
                "curves of batch 16, 32 and 64: "
                + ("it has no runs here." if viewer.is_viewer() else "launch it on Train."))
    else:
        for column, metric in zip(st.columns(2), ("accuracy", "loss"), strict=True):
            column.altair_chart(seed_view.batch_size_chart(frame, metric),
                                key=f"results.{seed_view.FIGURES[metric][0]}")
    ids = [info.run_id for info in seed.measured]
    state.keep_valid(FOCUS_KEY, ids)
    chosen = st.selectbox("Run the other figures show", ids, key=FOCUS_KEY,
                          help="The measured run with the best test accuracy at first.")
    run = seed.measured[ids.index(chosen)]
    ds = _dataset_of(run)
    _render_distribution(run, ds)
    st.altair_chart(run_charts.learning_curves_chart(
        run_charts.history_frame(state.history(run.path), run.run_id)),
        key="results.seed_curves")
    test = (run.metrics or {}).get("test", {})
    if test.get("confusion_matrix"):
        st.altair_chart(run_charts.confusion_chart(run_charts.confusion_frame(
            test["confusion_matrix"], run.metrics.get("classes", [])), normalised=True),
            key="results.seed_confusion")
    _render_gallery(run, ds)


def _dataset_of(run: runs.RunInfo) -> Dataset | None:
    """The sidebar's data set when the run trained on it: faces can only be shown then."""
    ds = state.current_dataset()
    return ds if trained_on(run.data, ds.fingerprint) else None


def _render_distribution(run: runs.RunInfo, ds: Dataset | None) -> None:
    if ds is not None:
        frame = explore.distribution_frame(ds)
    elif counts := (run.data or {}).get("train_counts"):
        frame = seed_view.counts_distribution(counts)
    else:
        return
    left, right = st.columns([3, 1])
    left.altair_chart(data_charts.class_distribution_chart(frame), key="results.seed_classes")
    if ds is not None:
        face = next(iter(explore.sample_ids(ds, 1, 0).values()))[0]
        right.image(explore.upscale(ds.images[face], 3),
                    caption=f"An example face: {ds.index.at[face, 'label']}")


def _render_gallery(run: runs.RunInfo, ds: Dataset | None) -> None:
    predictions = runs.read_predictions(run.path)
    if ds is None or predictions is None:
        st.info(f"No gallery: {run.run_id}'s data set is not the one chosen in the sidebar.")
        return
    sample = blocks.gallery_sample(predictions, split="test", size=GALLERY_SIZE)
    sample = locate(sample, ds.index["id"])
    st.caption("True against predicted, on test: the most confident right answers, then the "
               "most confident mistakes (red, with the true class).")
    render_faces(ds.images[sample["position"].to_numpy()], sample)
