"""The Results page's Share tab: the selected runs' HTML report, one run's files to download."""

from __future__ import annotations

import functools

import streamlit as st

from fer_core import runs
from fer_core.reports import card, report
from ui import state


def render(selected: list[runs.RunInfo], focus: runs.RunInfo) -> None:
    st.markdown(f"**Report** of the {len(selected)} selected run(s): one HTML file with the "
                "table, curves, confusion matrices, per-class scores and a gallery sample. It "
                "opens offline in any browser.")
    st.download_button(
        "Download the report (HTML)",
        functools.partial(report.report_on, [r.path for r in selected], state.data_ref()),
        file_name=f"fer-studio-report-{focus.run_id}.html", mime="text/html",
        key="results.report", on_click="ignore")
    st.markdown(f"**{focus.run_id}** on its own:")
    columns = st.columns(3)
    model = runs.files(focus.path).model
    columns[0].download_button("Model (.keras)", model.read_bytes,
                               file_name=f"{focus.run_id}.keras", mime="application/octet-stream",
                               key="results.model", on_click="ignore", disabled=not model.is_file())
    columns[1].download_button(
        "Metrics (CSV)", report.metrics_table(focus.metrics or {}).to_csv(index=False),
        file_name=f"{focus.run_id}-metrics.csv", mime="text/csv", key="results.metrics_csv",
        on_click="ignore", disabled=not focus.metrics)
    columns[2].download_button("Run folder (.zip)", functools.partial(card.run_zip, focus.path),
                               file_name=f"{focus.run_id}.zip", mime="application/zip",
                               key="results.zip", on_click="ignore",
                               help="Import it in another FER Studio from the sidebar.")

