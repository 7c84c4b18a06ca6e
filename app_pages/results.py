"""Results: learning curves, run comparison, test-split errors, galleries, report and export.
Everything is read from run folders (``fer_core.runs``), nothing computed that a run did not
record, so a run zipped on one machine shows the same on another."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_core import runs
from fer_core.core.errors import FerError
from fer_core.core.vocabulary import TERMS, label, text
from fer_core.reports import report, wording
from fer_core.reports.baseline import baseline_of_result, is_unusable, verdict
from fer_core.runs import archive, search_archive, searches
from ui import export_tab, feature_map, gallery, seed_report, share_tab, state, trust, viewer
from ui import links as ui_links
from ui import search as search_ui
from ui.run_actions import render_notice, render_run_actions
from views import links, run_charts
from views.gallery import SPLIT_LABELS

IMPORTED_KEY = "results.imported"  # upload file id -> (ok, message), so a rerun never re-imports
RUNS_KEY = "results.runs"
TAB_KEY = "results.tab"
SPLIT_KEY = "results.split"


def main() -> None:
    st.title("Results")
    st.caption("Learning curves, comparisons, where each model goes wrong, and a report to "
               "share. Every figure is read from the run folders.")
    st.session_state.setdefault(IMPORTED_KEY, {})
    render_notice()
    if not viewer.is_viewer():
        _render_import()

    readable = _report_problems(state.list_runs())
    if not readable:
        st.info("No runs to show yet: train one on the Train page, or import a run .zip in "
                "the sidebar.")
        st.stop()
    ui_links.restore([info.run_id for info in readable], runs_key=RUNS_KEY, tab_key=TAB_KEY,
                     split_key=SPLIT_KEY)
    selected = _pick_runs(readable)
    if not selected:
        st.info("Pick at least one run above.")
        st.stop()
    _warn_incomplete(selected)
    focus = _pick_focus(selected)
    render_run_actions(focus)
    link_slot = st.container()

    curves, compare, errors, calibrated, faces, map_tab, seed, share, export, search = st.tabs(
        list(links.TABS), key=TAB_KEY, on_change="rerun")
    with curves:
        _render_curves(focus)
    with compare:
        _render_comparison(selected)
    with errors:
        split = _render_errors(focus)
    with calibrated:
        trust.render_calibration(focus.path)
    with map_tab:  # drawn only when open: it reads every face of the run's data set
        if st.session_state.get(TAB_KEY) == "Map":
            feature_map.render(focus, gallery.dataset_if_at_hand(focus))
    with share:  # before the gallery, which stops the page if the data set cannot be read
        share_tab.render(selected, focus)
    with export:
        export_tab.render(focus)
    url = ui_links.publish([info.run_id for info in selected], tab=st.session_state.get(TAB_KEY),
                           split=split, default_runs=_default_runs(readable))
    ui_links.render_copy_link(link_slot, url)
    with seed:  # drawn only when open: it reads every run, not only the picked ones
        if st.session_state.get(TAB_KEY) == "Seed report":
            seed_report.render(readable)
    with search:  # searches, not the picked runs: drawn only when open
        if st.session_state.get(TAB_KEY) == "Search":
            search_ui.render_view()
    with faces:
        gallery.render(focus, split)


# --- choosing runs -------------------------------------------------------------------------------

def _report_problems(infos: list[runs.RunInfo]) -> list[runs.RunInfo]:
    broken = [info for info in infos if info.problem]
    if broken:
        names = "; ".join(f"{info.run_id} ({info.problem})" for info in broken[:5])
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        st.warning(f"{len(broken)} run folder(s) could not be read completely and are left "
                   f"out: {names}{more}. A run still being copied shows up once complete.")
    return [info for info in infos if not info.problem]


def _pick_runs(infos: list[runs.RunInfo]) -> list[runs.RunInfo]:
    """Filters, then the runs to show; the newest succeeded run is picked at first. A search's
    trials are listed only when asked (or linked to): the Search tab shows them together."""
    trials = {info.run_id for info in infos if searches.trial_of(info.extra)}
    linked = set(st.session_state.get(RUNS_KEY) or []) & trials
    only_trials = len(trials) == len(infos)
    if trials and not st.toggle(f"Show search trials ({len(trials)})", key="results.trials",
                                value=bool(linked) or only_trials):
        infos = [info for info in infos if info.run_id not in trials]
    table = report.summary_table(infos)
    filters = {"preset": sorted(set(table["preset"].dropna())),
               "sweep": sorted(set(table["sweep"].dropna())),
               "state": [s for s in runs.STATES if s in set(table["state"])]}
    mask = pd.Series(True, index=table.index)
    for cell, (column, options) in zip(st.columns(3), filters.items(), strict=True):
        chosen = cell.multiselect(column.capitalize(), options, key=f"results.{column}",
                                  placeholder=f"any {column}")
        if chosen:
            mask &= table[column].isin(chosen)
    shown = set(table.loc[mask, "run"])
    infos = [info for info in infos if info.run_id in shown]
    return state.pick_runs("Runs", infos, RUNS_KEY, default=_default_runs(infos),
                           detail=_run_detail,
                           help="Several runs are overlaid in Comparison and all go into the "
                           "report.")


def _default_runs(infos: list[runs.RunInfo]) -> list[str]:
    """What Results shows first: the newest succeeded run."""
    newest = next((info.run_id for info in infos if info.state == "succeeded"), None)
    return [newest] if newest else []


def _run_detail(info: runs.RunInfo) -> str:
    return info.state + (", not usable" if is_unusable(info.metrics) else "")


def _warn_incomplete(selected: list[runs.RunInfo]) -> None:
    for info in selected:
        if (judged := verdict(info.metrics)) is not None and not judged.usable:
            st.error(f"{info.run_id}: {judged.text}", icon=":material/block:")
        if info.state == "succeeded" and not info.metrics:
            st.warning(f"{info.run_id}: metrics.json is missing or damaged, so its test-split "
                       "figures cannot be shown. Re-evaluate it with `python -m fer_core "
                       "evaluate`, or copy the run again.")
        elif info.state in ("failed", "cancelled"):
            error = info.status.error
            st.warning(f"{info.run_id} {info.state}" + (f": {error}" if error else "."))


def _pick_focus(selected: list[runs.RunInfo]) -> runs.RunInfo:
    """The run whose curves, errors and gallery are shown in detail."""
    if len(selected) == 1:
        return selected[0]
    ids = [info.run_id for info in selected]
    state.keep_valid("results.focus", ids)
    chosen = st.selectbox("Run to inspect", ids, key="results.focus",
                          help="Curves, errors, gallery and downloads are per run.")
    return selected[ids.index(chosen)]


# --- tabs ----------------------------------------------------------------------------------------

def _render_curves(run: runs.RunInfo) -> None:
    frame = run_charts.history_frame(state.history(run.path), run.run_id)
    if frame.empty:
        st.info(f"{run.run_id} has no finished epoch yet.")
        return
    st.altair_chart(run_charts.learning_curves_chart(frame), key="results.curves")
    notes = []
    if best := (run.metrics or {}).get("best_epoch"):
        notes.append(f"The saved model is from epoch {best} (best validation accuracy).")
    if run_charts.phase_boundaries(frame):
        notes.append("The dashed line marks the start of fine-tuning (phase 2).")
    if notes:
        st.caption(" ".join(notes))


def _render_comparison(selected: list[runs.RunInfo]) -> None:
    frame = pd.concat([run_charts.history_frame(state.history(r.path), r.run_id) for r in selected],
                      ignore_index=True)
    if not frame.empty:
        for column, metric in zip(st.columns(2), ("accuracy", "loss"), strict=True):
            column.altair_chart(run_charts.comparison_chart(frame, metric),
                                key=f"results.compare_{metric}")
    table = wording.with_usable(report.summary_table(selected), selected)
    state.show_table(table, wording.SCORE_COLUMNS)
    state.show_table(table, wording.SETTING_COLUMNS)
    st.download_button("Download the table (CSV)", table.to_csv(index=False),
                       file_name="fer-studio-runs.csv", mime="text/csv",
                       key="results.table_csv", on_click="ignore")


def _render_errors(run: runs.RunInfo) -> str | None:
    """Confusion matrix, per-class scores and most-confused pairs; returns the split shown."""
    metrics = run.metrics or {}
    splits = [s for s in SPLIT_LABELS if s in metrics]
    if not splits:
        st.info(f"{run.run_id} has no metrics yet: they are written when training ends.")
        return None
    state.keep_valid(SPLIT_KEY, splits)
    split = st.radio("Split", splits, key=SPLIT_KEY, horizontal=True,
                     format_func=SPLIT_LABELS.get)
    result, classes = metrics[split], metrics.get("classes", [])
    cells = st.columns(4)
    base = baseline_of_result(result, classes, split=split)
    cells[0].metric("Accuracy", text("accuracy", result.get("accuracy", 0)),
                    delta=(f"{result.get('accuracy', 0) - base.accuracy:+.1%} vs. always "
                           f"{base.majority_class}") if base else None,
                    help="Against the majority-class baseline: always answering the "
                    "commonest class of this split.")
    for cell, key in zip(cells[1:], ("loss", "macro_f1", "n"), strict=True):
        cell.metric(label(key), text(key, result.get(key, 0)), help=TERMS[key].help or None)

    normalised = st.toggle("Row-normalised (share of each true class)", key="results.normalised")
    left, right = st.columns([3, 2])
    if result.get("confusion_matrix") and classes:
        frame = run_charts.confusion_frame(result["confusion_matrix"], classes)
        left.altair_chart(run_charts.confusion_chart(frame, normalised=normalised),
                          key="results.confusion")
    per_class = run_charts.per_class_frame(result)
    state.show_table(per_class, where=right)
    right.altair_chart(run_charts.per_class_chart(per_class), key="results.per_class")
    confused = run_charts.most_confused_frame(result)
    if len(confused):
        st.subheader("Most confused")
        state.show_table(confused)
    return split


def _render_import() -> None:
    with st.sidebar:
        st.subheader("Import a run")
        upload = st.file_uploader("Run folder .zip", type=["zip"], key="results.import",
                                  help="A .zip made with 'Run folder (.zip)' on the Share tab, "
                                  "or a whole search's, from the Search tab.")
    if upload is None:
        return
    done = st.session_state[IMPORTED_KEY]
    if upload.file_id not in done:
        data = upload.getvalue()
        try:
            if search_archive.is_search_zip(data):
                path = search_archive.import_search_zip(data, state.runs_root())
                what = "search"
            else:
                path = archive.import_run_zip(data, state.runs_root(), name_hint=upload.name)
                what = "run"
        except FerError as err:
            done[upload.file_id] = (False, str(err))
        else:
            done[upload.file_id] = (True, f"Imported {upload.name} as {what} {path.name}.")
    ok, message = done[upload.file_id]
    (st.sidebar.success if ok else st.sidebar.error)(message)


main()
