"""The app's one data choice (AppTest): read from the address before FER_DATA_DIR, kept in the
address, and the one every page's work uses: with FER_DATA_DIR set and the demo chosen, the
report, the suspect-labels pass and the estimate all get the demo."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from fer_core import tasks
from fer_core.core.config import preset
from fer_core.data import DEMO_DATA, DataRef
from fer_core.runs import task_folders
from fer_core.training import speed
from tests.page_support import ROOT, open_page

DEMO_SOURCE = "Demo data (synthetic)"
SPEED = speed.Speed(train_images_per_s=50.0, infer_images_per_s=200.0, tracing_s=1.0,
                    measured="2026-01-01T00:00:00+00:00")


def _app(tmp_path: Path, data: str | None = None) -> AppTest:
    """The whole app (sidebar included) opened at an address with ``?data=`` or without."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    if data is not None:
        at.query_params["data"] = data
    return at.run()


# --- the address --------------------------------------------------------------------------------

def test_address_choice_wins_over_fer_data_dir_at_session_start(tmp_path, env_data):
    at = _app(tmp_path, DEMO_DATA)
    assert not at.exception
    assert at.session_state["app.data"] == DataRef()
    assert at.sidebar.radio(key="sidebar.source").value == DEMO_SOURCE
    assert at.query_params["data"] in (DEMO_DATA, [DEMO_DATA])


def test_no_address_choice_takes_fer_data_dir_and_the_address_follows_changes(tmp_path,
                                                                             env_data):
    at = _app(tmp_path)
    assert at.session_state["app.data"] == DataRef(env_data)
    assert "data" not in at.query_params  # the default choice: no rewrite, no history entry
    at.sidebar.radio(key="sidebar.source").set_value(DEMO_SOURCE).run()
    assert at.query_params["data"] in (DEMO_DATA, [DEMO_DATA])


def test_address_naming_missing_data_says_so_and_uses_the_demo(tmp_path, env_data):
    at = _app(tmp_path, str(tmp_path / "nowhere"))
    assert not at.exception
    assert any("nowhere" in w.value and "demo" in w.value for w in at.warning)
    assert at.session_state["app.data"] == DataRef()
    assert at.query_params["data"] in (DEMO_DATA, [DEMO_DATA])


def test_read_only_viewer_keeps_its_own_data_whatever_the_address_says(tmp_path, env_data,
                                                                       monkeypatch):
    monkeypatch.setenv("FER_READ_ONLY", "1")
    at = _app(tmp_path, DEMO_DATA)
    assert not at.exception
    assert at.session_state["app.data"] == DataRef(env_data)


# --- the work each page starts gets the demo ----------------------------------------------------

@pytest.mark.slow
def test_report_with_demo_chosen_takes_its_gallery_from_the_demo(tmp_path, env_data, demo_run,
                                                                 monkeypatch):
    made: dict[str, Callable[[], str]] = {}
    button = st.download_button

    def spy(label: str, data, **options):
        made[options["key"]] = data
        return button(label, data, **options)

    monkeypatch.setattr(st, "download_button", spy)
    shutil.copytree(demo_run, tmp_path / "runs" / demo_run.name)
    at = open_page("results", tmp_path / "runs").run()  # the demo chosen
    assert not at.exception
    page = made["results.report"]()
    assert "<img" in page and "No gallery" not in page  # FER_DATA_DIR's data has no match


def test_suspects_start_with_demo_chosen_runs_the_pass_on_the_demo(tmp_path, env_data):
    root = tmp_path / "runs"
    at = open_page("explore", root, **{"explore.section": "Suspect labels"})
    at.run().button(key="explore.suspects_start").click().run()
    assert not at.exception
    [task] = task_folders.task_folders(root)
    try:
        record = task_folders.read_task(task)
        assert record.kind == "suspects" and record.spec["data"] == DEMO_DATA
        assert record.subject == DataRef().fingerprint() != DataRef(env_data).fingerprint()
    finally:
        tasks.cancel(task)
        tasks.wait(task, timeout=120)


def _estimate_text(data: DataRef) -> str:
    config = preset("fast-cpu")
    sizes = speed.split_sizes(config, data.load())
    return speed.describe(speed.estimate(config, sizes, {1: SPEED}))


def test_estimate_with_demo_chosen_counts_the_demo(tmp_path, env_data, monkeypatch):
    monkeypatch.setattr(speed, "cached_speed", lambda key: SPEED)  # measured before
    at = open_page("train", tmp_path / "runs").run()  # the demo chosen, fast-cpu
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert f":material/timer: {_estimate_text(DataRef())}" in captions
    assert _estimate_text(DataRef()) != _estimate_text(DataRef(env_data))


def test_estimate_with_demo_chosen_times_the_demo(tmp_path, env_data, monkeypatch):
    monkeypatch.setattr(speed, "cached_speed", lambda key: None)  # never measured here
    root = tmp_path / "runs"
    at = open_page("train", root).run()  # nothing measured yet: Estimate queues a job
    at.button(key="train.estimate").click().run()
    assert not at.exception
    [task] = task_folders.task_folders(root)
    try:
        record = task_folders.read_task(task)
        assert record.kind == "estimate" and record.spec["config"]["data"] == DEMO_DATA
    finally:
        tasks.cancel(task)
        tasks.wait(task, timeout=120)
