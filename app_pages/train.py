"""Train: pick a preset, change any hyperparameter, launch jobs, sweeps, studies or searches,
watch them.
Training never runs in this process: Launch queues a run folder that a background worker trains
(``fer_core.tasks``), so a job survives reruns, closed tabs and app restarts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from fer_core import runs, tasks
from fer_core.core.config import TrainConfig
from fer_core.core.errors import ConfigError, FerError
from fer_core.core.vocabulary import label, text
from fer_core.data import DataRef
from fer_core.data.named_classes import check_named_classes, named_classes
from fer_core.runs import searches
from fer_core.tasks import studies
from fer_core.tasks.kinds import KINDS, TRAIN
from fer_core.training.resume import is_resumable
from ui import config_form, estimate, links, state, viewer
from ui import search as search_ui
from views import forms, progress, run_charts

POLL_SECONDS = 2
RECENT_FINISHED = 5
ACTIVE_KEY = "train.active_runs"  # ids active at the last full run: a job ending reruns all
NOTICE_KEY = "train.notice"  # (kind, text) left by a callback for the next run to show


# --- launching -----------------------------------------------------------------------------------

def _render_form() -> tuple[str, TrainConfig | None]:
    """Preset, then every hyperparameter; the config, or ``None`` with the error shown."""
    name = config_form.render_preset_picker()
    values = config_form.render_config_form()
    try:
        config = forms.build_config(values)
    except ConfigError as err:
        st.error(str(err))
        return name, None
    return name, config


def _with_sidebar_data(config: TrainConfig) -> TrainConfig:
    """An empty data field means the data set chosen in the sidebar."""
    return config if config.data else config.replace(data=str(state.data_ref()))


def _queue(launch: Callable[[], Any], done: Callable[[Any], str]) -> None:
    """Launch, sweep and study: what was queued, or why not, shows under the button."""
    try:
        queued = launch()
    except FerError as err:
        st.error(str(err))
    else:
        st.success(done(queued))


def _render_launch(preset_name: str, config: TrainConfig | None) -> TrainConfig | None:
    """Launch; the config back, or ``None`` when the data cannot be trained on (so the sweep
    below is refused too)."""
    chosen = DataRef.parse(config.data) if config and config.data else state.data_ref()
    st.caption(f"Data: **{chosen.label}** · runs folder: "
               f"`{state.runs_root()}` · jobs run on {state.jobs_backend_label()}")
    try:
        chosen.check()
        # A job would refuse a class the data lacks too, but only once queued and loaded. The
        # data loads (from its disk cache) only for a config that names a class; most do not.
        if config is not None and any(named_classes(config).values()):
            check_named_classes(config, chosen.load().classes, preset=preset_name)
    except FerError as err:
        st.error(str(err))
        config = None
    if config is not None:
        estimate.render_estimate(config, chosen)
    if st.button("Launch", type="primary", key="train.launch", disabled=config is None,
                 help="Queue a training job; it runs in its own process (where: sidebar)."):
        _queue(lambda: tasks.launch(_with_sidebar_data(config), runs_root=state.runs_root(),
                                    preset=preset_name, backend=state.jobs_backend()),
               lambda run_dir: f"Queued **{run_dir.name}**. Follow it below.")
    return config


def _render_sweep(preset_name: str, config: TrainConfig | None) -> None:
    st.caption("Values separated by commas, e.g. 16, 32, 64. Every other setting comes "
               "from the form above; the jobs run one after another on this machine, "
               "in parallel on a Ray cluster.")
    columns = st.columns(len(progress.SWEEP_FIELDS))
    texts = {}
    for name, column in zip(progress.SWEEP_FIELDS, columns, strict=True):
        with column:
            texts[name] = config_form.render_widget(forms.sweep_spec(name),
                                                    f"train.sweep.{name}")
    try:
        grid = progress.parse_sweep_grid(texts)
    except ConfigError as err:
        st.error(str(err))
        grid = None
    size = progress.sweep_size(grid or {})
    if size:
        st.caption(f"{size} job{'s' if size != 1 else ''}.")
    if st.button(f"Launch sweep ({size} jobs)" if size else "Launch sweep",
                 key="train.launch_sweep", disabled=config is None or not size):
        _queue(lambda: tasks.launch_sweep(_with_sidebar_data(config), grid,
                                          preset=preset_name, runs_root=state.runs_root(),
                                          backend=state.jobs_backend()),
               lambda dirs: f"Queued {len(dirs)} jobs as "
                            f"**{runs.read_status(dirs[0]).sweep}**.")


def _render_study(preset_name: str, config: TrainConfig | None) -> None:
    """One click queues every run a seed-report question needs, as one group like a sweep."""
    st.caption("Every arm is the form above with a few settings changed, so shorten the "
               "epochs there for a quick answer. Results shows the group together, and its "
               "Seed report tab answers the question.")
    name = st.selectbox("Study", list(studies.STUDIES), key="train.study",
                        format_func=lambda n: f"{n}: {studies.STUDIES[n].question}")
    study = studies.get_study(name)
    st.table([{"Run": arm.label,
               "Changes": ", ".join(f"{label(k)} {text(k, v)}" for k, v in arm.fields.items())}
              for arm in study.arms])
    if st.button(f"Launch study ({len(study.arms)} jobs)", key="train.launch_study",
                 disabled=config is None):
        _queue(lambda: studies.launch_study(name, _with_sidebar_data(config),
                                            preset=preset_name, runs_root=state.runs_root(),
                                            backend=state.jobs_backend()),
               lambda dirs: f"Queued {len(dirs)} jobs as study **{name}**.")


# --- the job list (live) -------------------------------------------------------------------------

def _job_rows() -> list[progress.JobRow]:
    return progress.job_rows(state.list_runs(), tasks=tasks.list_tasks(state.runs_root()),
                             recent=RECENT_FINISHED)


def _render_jobs_live() -> None:
    """Re-read the status files; when a job ended since the last full run, rerun the page.
    The stored ids are updated before the rerun, so it finds nothing new and never loops."""
    rows = _job_rows()
    active = {row.run_id for row in rows if row.active}
    if st.session_state.get(ACTIVE_KEY, set()) - active:
        st.session_state[ACTIVE_KEY] = active
        st.rerun()
    if notice := st.session_state.pop(NOTICE_KEY, None):
        getattr(st, notice[0])(notice[1])
    if not rows:
        st.info("No jobs yet." if viewer.is_viewer()
                else "No jobs yet. Pick a preset and press **Launch**.")
        return
    for row in rows:
        _render_job(row)
    if not any(row.active for row in rows):
        st.caption("Older runs are on the Results page.")


def _render_job(row: progress.JobRow) -> None:
    with st.container(border=True):
        head, actions = st.columns([6, 1], vertical_alignment="center")
        head.markdown(_job_title(row))
        if viewer.is_viewer():
            pass  # a viewer follows jobs; it cannot stop or restart them
        elif row.active:
            # a running job stops after its current step, a queued one now
            actions.button("Cancel", key=f"train.cancel.{row.run_id}", on_click=_act,
                           disabled=row.cancelling,
                           args=(tasks.cancel, row.path, f"Cancel sent to {row.run_id}; a running "
                                 "job finishes its current step and keeps its best model."))
        elif row.kind != TRAIN and row.state in ("failed", "cancelled"):
            actions.button("Retry", key=f"train.retry.{row.run_id}", on_click=_act,
                           args=(tasks.retry, row.path, f"{row.run_id} is queued again."),
                           help="Queue it again with the same settings.")
        elif row.state == "failed" and is_resumable(row.path):
            actions.button("Resume", key=f"train.resume.{row.run_id}", on_click=_act,
                           args=(tasks.resume, row.path, f"{row.run_id} is queued to resume."),
                           help="Queue it again; it continues from its last finished epoch.")
        if row.state in ("running", "queued"):
            st.progress(row.fraction, text=progress.progress_text(row))
            if row.metrics:
                st.caption(progress.metrics_text(row.metrics))
        elif row.state == "failed":
            st.error(f"{row.run_id} failed: {row.error or 'the job ended without a message'}")
        elif row.state == "cancelled":
            st.warning(progress.progress_text(row))
        else:
            accuracy = (f" · test accuracy {row.test_accuracy:.1%}"
                        if row.test_accuracy is not None else "")
            st.progress(1.0, text=f"{progress.progress_text(row)}{accuracy}")
            if row.state == "succeeded" and row.kind == TRAIN:
                links.results_link(row.run_id, f"Open {row.run_id}'s results")
        if row.state != "queued":
            if row.kind == TRAIN:
                _render_curves(row)
            elif row.kind == searches.KIND:
                search_ui.render_trials(row.path)
            with st.expander("Log", expanded=row.state == "failed"):
                st.code(tasks.log_tail(row.path, lines=40) or "(no output yet)", language=None)


def _job_title(row: progress.JobRow) -> str:
    icon = {"running": ":material/progress_activity:", "queued": ":material/schedule:",
            "succeeded": ":material/check_circle:", "failed": ":material/error:",
            "cancelled": ":material/cancel:"}.get(row.state, "")
    kind = None if row.kind == TRAIN else getattr(KINDS.get(row.kind), "label", row.kind)
    details = " · ".join(filter(None, [kind, row.preset, row.backbone, row.sweep]))
    return f"{icon} **{row.run_id}** · {row.state}" + (f" · {details}" if details else "")


def _render_curves(row: progress.JobRow) -> None:
    history = run_charts.history_frame(state.history(row.path))
    if history.empty:
        if row.state == "running":
            st.caption("Curves appear after the first epoch.")
        return
    for column, metric in zip(st.columns(2), ("loss", "accuracy"), strict=True):
        column.altair_chart(run_charts.job_curve_chart(history[history["metric"] == metric],
                                                       metric), width="stretch")


def _act(action: Callable[[Path], object], path: Path, done: str) -> None:
    """The Cancel and Resume callbacks: a callback cannot draw, so it leaves a notice."""
    try:
        action(path)
    except FerError as err:
        st.session_state[NOTICE_KEY] = ("error", str(err))
    else:
        st.session_state[NOTICE_KEY] = ("info", done)


def _render_jobs() -> None:
    """The live job list: a top-level fragment, ticking only while a job is active."""
    st.subheader("Jobs")
    active = {row.run_id for row in _job_rows() if row.active}
    st.session_state[ACTIVE_KEY] = active
    st.fragment(run_every=POLL_SECONDS if active else None)(_render_jobs_live)()


# --- page ----------------------------------------------------------------------------------------

state.init_state()
st.title("Train")
st.caption("The training jobs of this FER Studio, followed live. Each trains in its own "
           "process, one at a time on this machine or in parallel on a Ray cluster."
           if viewer.is_viewer() else
           "Pick a preset, adjust any setting, then launch. Each job trains in its own "
           "process, one at a time on this machine or in parallel on a Ray cluster (sidebar); "
           "this page follows them live and keeps following them after a reload or restart.")
if viewer.is_viewer():
    viewer.render_note()
else:
    preset_name, config = _render_form()
    config = _render_launch(preset_name, config)
    sweep_tab, study_tab, search_tab = st.tabs(
        ["Sweep: every combination", "Study: the seed report's questions",
         "Search: let the machine find the settings"])
    with sweep_tab:
        _render_sweep(preset_name, config)
    with study_tab:
        _render_study(preset_name, config)
    with search_tab:
        search_ui.render_form(preset_name, config and _with_sidebar_data(config))
_render_jobs()
