"""The Results page's Export tab: exporting is a task, since conversion never runs in the web
server; the tab follows it (after a reload too) and shows how each export agrees with Keras."""

from __future__ import annotations

import functools

import streamlit as st

from fer_core import runs
from fer_core.export import default_out, read_export, zip_export
from fer_core.export import report as export_report
from fer_core.runs import task_folders
from fer_core.tasks import export as export_task
from ui import state, task_panel, viewer
from views import export as view
from views.progress import ACTIVE_STATES


@st.fragment  # a click or the result's arrival reruns this tab only, not the whole page
def render(run: runs.RunInfo) -> None:
    st.markdown(f"**Export {run.run_id}** for deployment. Each export is re-scored on the test "
                "split (up to 1,000 images) in its own runtime and compared with the Keras "
                "model; `labels.txt`, `preprocessing.json`, a usage snippet per format and the "
                "model card go beside it.")
    has_model = runs.files(run.path).model.is_file()
    task = task_folders.latest(export_task.KIND, run.run_id, runs_root=state.runs_root())
    if viewer.is_viewer():
        st.caption("This is a read-only view: exports made on the working copy show here.")
    else:
        _render_export_button(run, has_model, busy=task_panel.busy(task))
    if task_panel.render(task, key="results.export") in ACTIVE_STATES:
        return
    out = default_out(run.path)
    entries = read_export(out)
    if not entries:
        st.info("Not exported yet.")
        return
    ok, sentence = view.verdict(entries)
    (st.success if ok else st.error)(sentence)
    state.show_table(export_report.frame(entries))
    st.caption(export_report.run_accuracy_text(run.metrics))
    st.download_button("Export folder (.zip)", functools.partial(zip_export, out),
                       file_name=f"{run.run_id}-export.zip", mime="application/zip",
                       key="results.export_zip", on_click="ignore")


def _render_export_button(run: runs.RunInfo, has_model: bool, *, busy: bool) -> None:
    st.selectbox("Format", view.CHOICES, key="results.export_format",
                 format_func=view.LABELS.get, disabled=not has_model)
    st.button("Export", key="results.export_run", disabled=not has_model or busy,
              help="This run has no model.keras." if not has_model else
              "Runs as a job beside training (see Train > Jobs).", on_click=task_panel.submit,
              args=(export_task.KIND, lambda: export_task.spec(
                  run.path, st.session_state["results.export_format"])),
              kwargs={"subject": run.run_id, "rerun": False})
