"""The search, drawn: Train's Search tab (what to vary, the budget, Launch), a search's trials
while it runs (Train's job list), and Results' Search tab (the objective over time, the trials
across their settings, what mattered, the best settings and **Train with these settings**)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from fer_core import runs, tasks
from fer_core.core.config import TrainConfig, config_field, field_label
from fer_core.core.errors import FerError
from fer_core.core.search_space import (
    OBJECTIVES,
    Dimension,
    SearchPlan,
    searchable_fields,
    suggested_dimension,
)
from fer_core.core.vocabulary import label, text
from fer_core.reports.report_search import search_report
from fer_core.runs import searches
from fer_core.runs.search_archive import export_search_zip
from ui import config_form, state, viewer
from views import forms
from views import search as charts

KEY = "train.search"
DEFAULT_FIELDS = ["learning_rate", "dropout"]
VIEW_KEY = "results.search"
NOTICE_KEY = "results.search_notice"


# --- Train: the Search tab -----------------------------------------------------------------------

def render_form(preset_name: str, config: TrainConfig | None) -> None:
    """What to vary around the form's recipe (its data set filled in), the budget, and
    Launch search."""
    st.caption("Optuna tries settings around the recipe above, learning from each trial, and "
               "stops trials that fall behind (median pruning at every tenth of a trial's "
               "time). Trial 0 is the recipe itself. Trials run one at a time on this machine, "
               "side by side on a Ray cluster.")
    names = st.multiselect("Settings to search", searchable_fields(), default=DEFAULT_FIELDS,
                           key=f"{KEY}.fields", format_func=lambda n: field_label(config_field(n)))
    dimensions = [_render_dimension(name, config) for name in names] if config else []
    cells = st.columns(4)
    objective = cells[0].selectbox("Objective", OBJECTIVES, key=f"{KEY}.objective",
                                   format_func=label)
    trial_minutes = cells[1].number_input("Minutes per trial", 0.5, 600.0, 5.0, 0.5,
                                          key=f"{KEY}.trial_minutes")
    minutes = cells[2].number_input("Minutes in all", 1.0, 10_000.0, 60.0, 5.0,
                                    key=f"{KEY}.minutes")
    parallel = cells[3].number_input("Trials at once", 1, 64, 1, key=f"{KEY}.parallel",
                                     help="On a Ray cluster, one trial per worker.")
    plan = None
    if config is not None:
        try:
            plan = SearchPlan(base=config.to_dict(), dimensions=tuple(dimensions),
                              objective=objective, trial_minutes=float(trial_minutes),
                              minutes=float(minutes), parallel=int(parallel),
                              preset=preset_name).check()
        except FerError as err:
            st.error(str(err))
    if plan is not None:
        st.caption(f"About {plan.trials_that_fit()} trials of {plan.trial_budget_min:g} minutes "
                   f"fit in {plan.minutes:g} minutes, {plan.parallel} at a time; the best "
                   f"{plan.keep_models} keep their model files.")
    if st.button("Launch search", key=f"{KEY}.launch", disabled=plan is None):
        try:
            task_dir = tasks.submit(searches.KIND, searches.spec(plan),
                                    runs_root=state.runs_root(), backend=state.jobs_backend())
        except FerError as err:
            st.error(str(err))
        else:
            st.success(f"Queued search **{task_dir.name}**. Its trials show below as they "
                       "run; Results' Search tab shows the whole search.")


def _render_dimension(name: str, config: TrainConfig) -> Dimension:
    """A range (two boxes of the field's own widget, and the scale) or a set of choices."""
    start = suggested_dimension(name, config)
    key = f"{KEY}.{name}"
    if start.choices:
        chosen = st.multiselect(field_label(config_field(name)), list(start.choices),
                                default=list(start.choices), key=f"{key}.choices",
                                format_func=lambda value: text(name, value))
        return Dimension(name, choices=tuple(chosen))
    low_spec, high_spec = forms.range_specs(name, start.low, start.high)
    cells = st.columns([3, 3, 1], vertical_alignment="bottom")
    with cells[0]:
        low = config_form.render_widget(low_spec, f"{key}.low")
    with cells[1]:
        high = config_form.render_widget(high_spec, f"{key}.high")
    log = cells[2].checkbox("log", value=start.log, key=f"{key}.log",
                            help="Sample on a log scale: as many trials per decade.")
    return Dimension(name, low=low, high=high, log=log)


# --- Train: a search's trials in the job list ----------------------------------------------------

def render_trials(task_dir: Path) -> None:
    """The trial table of a queued or running search, best first; pruned ones marked."""
    summary = searches.read_summary(task_dir)
    if not summary or not summary.get("trials"):
        st.caption("No trial has started yet.")
        return
    state.show_table(searches.trials_frame(summary, best_first=True).drop(columns="run"))


# --- Results: the Search tab ---------------------------------------------------------------------

def render_view() -> None:
    folders = searches.search_folders(state.runs_root())
    if not folders:
        st.info("No search yet: start one on the Train page's Search tab, or with "
                "`python -m fer_core search run`.")
        return
    ids = [folder.name for folder in folders]
    state.keep_valid(VIEW_KEY, ids)
    chosen = st.selectbox("Search", ids, key=VIEW_KEY)
    task_dir = folders[ids.index(chosen)]
    summary = searches.read_summary(task_dir)
    if not summary:
        st.info(f"{chosen} has not started a trial yet.")
        return
    plan = searches.plan_of(task_dir)
    objective = summary["objective"]
    _render_counts(task_dir, summary)
    progress = searches.progress_frame(summary)
    if not progress.empty:
        st.altair_chart(charts.objective_chart(progress, objective), key=f"{VIEW_KEY}.objective")
    parallel = searches.parallel_frame(summary, plan)
    left, right = st.columns([3, 2])
    if not parallel.empty:
        left.altair_chart(charts.parallel_chart(parallel, objective), key=f"{VIEW_KEY}.parallel")
    importances = searches.importance_frame(summary)
    if importances.empty:
        right.caption("Parameter importances appear once two trials have finished.")
    else:
        right.altair_chart(charts.importance_chart(importances), key=f"{VIEW_KEY}.importance")
    st.subheader("Trials")
    state.show_table(searches.trials_frame(summary))
    _render_best(task_dir, summary, plan)
    left, right = st.columns(2)
    left.download_button("Download the search report (HTML)", search_report(task_dir),
                         file_name=f"fer-studio-{chosen}.html", mime="text/html",
                         key=f"{VIEW_KEY}.report", on_click="ignore")
    right.download_button("Download the search (.zip)", lambda: export_search_zip(task_dir),
                          file_name=f"{chosen}.zip", mime="application/zip",
                          key=f"{VIEW_KEY}.zip", on_click="ignore",
                          help="Its folder and its trial runs; import it in the sidebar of "
                          "another FER Studio's Results page.")


def _render_counts(task_dir: Path, summary: dict[str, Any]) -> None:
    status = runs.read_status(task_dir)
    counts = searches.counts(summary)
    cells = st.columns(4)
    cells[0].metric("State", runs.effective_state(status))
    cells[1].metric("Trials finished", counts["complete"])
    cells[2].metric("Pruned", counts["pruned"], help="Stopped early by the median pruner: "
                    "below the median of finished trials at the same share of their time.")
    cells[3].metric("Minutes", text("minutes", summary.get("seconds", 0) / 60))
    if status.error:
        st.error(status.error)


def _render_best(task_dir: Path, summary: dict[str, Any], plan: SearchPlan) -> None:
    best = summary.get("best")
    if not best:
        return
    st.subheader(f"Best: trial {best['number']}, {label(summary['objective']).lower()} "
                 f"{text(summary['objective'], best['value'])}")
    shown = searches.shown_params(best["params"])
    st.table({label(k): text(k, v) for k, v in shown.items()})
    if notice := st.session_state.pop(NOTICE_KEY, None):
        getattr(st, notice[0])(notice[1])
    if viewer.is_viewer():
        return
    base = plan.base_config
    schedule = (f"{base.time_budget_min:g} minutes" if base.time_budget_min
                else f"{base.epochs} epochs")
    budget = st.number_input("Time budget (minutes; 0: the base recipe's schedule, "
                             f"{schedule})", 0.0, 10_000.0, 0.0, 5.0, key=f"{VIEW_KEY}.budget")
    st.button("Train with these settings", key=f"{VIEW_KEY}.train", type="primary",
              on_click=_train_best, args=(task_dir, float(budget)))


def _train_best(task_dir: Path, minutes: float) -> None:
    try:
        config = searches.best_config(task_dir)
        if minutes:
            config = config.replace(time_budget_min=minutes)
        run_dir = tasks.launch(config, runs_root=state.runs_root(), backend=state.jobs_backend(),
                               preset=searches.plan_of(task_dir).preset,
                               display_name=f"best of {task_dir.name}")
    except FerError as err:
        st.session_state[NOTICE_KEY] = ("error", str(err))
    else:
        st.session_state[NOTICE_KEY] = ("success", f"Queued **{run_dir.name}** with the best "
                                                   "settings; follow it on the Train page.")
