"""The Train page (AppTest) and the pure helpers behind it (views.progress, views.forms).

Most page tests queue jobs with the worker switched off (``LocalBackend.submit`` patched), so
no process starts; the one real launch is marked ``slow`` and cancelled in its teardown.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs, tasks
from fer_core.core import atomic
from fer_core.core.config import (
    PRESETS,
    FieldKind,
    TrainConfig,
    config_fields,
    field_kind,
    param,
    preset,
)
from fer_core.core.errors import ConfigError
from ui import config_form
from views import forms, progress

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PAGE = str(ROOT / "app_pages" / "train.py")
NOW = 1_800_000_000.0


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Launch only queues: AppTest runs the page in this process, so the patch applies."""
    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)


def page(runs_dir: Path) -> AppTest:
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(runs_dir)
    return at


def widget_keys(at: AppTest) -> set[str]:
    widgets = [*at.number_input, *at.selectbox, *at.checkbox, *at.text_input, *at.multiselect]
    return {w.key for w in widgets if w.key}


def run_folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir())


def write_failed_run(runs_dir: Path) -> Path:
    run_dir = runs.create_run(preset("fast-cpu").to_dict(),
                              run_dir=runs_dir / "20260102-000000-fast-cpu")
    runs.write_status(run_dir, state="failed", started="2026-01-02T00:00:00+00:00",
                      finished="2026-01-02T00:00:09+00:00",
                      error="ModelError: weights file not found")
    atomic.write_text(run_dir / "log.txt", "Run folder: x\nTraceback: boom in build_model\n")
    return run_dir


# --- the page ------------------------------------------------------------------------------------

def test_train_page_renders_without_exception(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert any("No jobs yet" in i.value for i in at.info)


def test_train_form_has_a_widget_for_every_config_field(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    expected = {config_form.widget_key(f.name) for f in config_fields()}
    assert expected <= widget_keys(at)
    assert not at.button(key="train.launch").disabled


def test_train_form_starts_at_the_default_preset_values(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    config = preset(config_form.DEFAULT_PRESET)
    assert at.selectbox(key="train.preset").value == config_form.DEFAULT_PRESET
    assert at.number_input(key="train.cfg.epochs").value == config.epochs
    assert at.number_input(key="train.cfg.learning_rate").value == config.learning_rate


def test_choosing_preset_resets_every_field_to_its_values(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    at.selectbox(key="train.preset").select("seed-no-disgust").run()
    assert at.selectbox(key="train.cfg.backbone").value == "inceptionv3"
    assert at.multiselect(key="train.cfg.drop_classes").value == ["disgust"]
    at.number_input(key="train.cfg.epochs").set_value(3).run()

    at.selectbox(key="train.preset").select("fast-cpu").run()
    assert not at.exception
    assert at.selectbox(key="train.cfg.backbone").value == "fer-cnn"
    fast = preset("fast-cpu")
    for f in config_fields():
        shown = at.session_state[config_form.widget_key(f.name)]
        assert shown == forms.to_widget_value(f, getattr(fast, f.name)), f.name


def _form_on_one_of_two_pages() -> None:
    """The form when "page" is "train"; nothing of it on the other page, as in the app."""
    import streamlit as st  # AppTest runs this function's source alone: imports go inside

    from ui import config_form

    if st.session_state.get("page", "train") == "train":
        config_form.render_preset_picker()
        config_form.render_config_form()


def test_form_values_survive_a_visit_to_another_page() -> None:
    at = AppTest.from_function(_form_on_one_of_two_pages, default_timeout=60).run()
    at.selectbox(key="train.preset").select("best").run()
    at.number_input(key="train.cfg.epochs").set_value(7).run()
    at.session_state["page"] = "results"
    at.run()
    assert "train.cfg.epochs" not in at.session_state  # Streamlit forgot the widget
    at.session_state["page"] = "train"
    at.run()
    assert at.selectbox(key="train.preset").value == "best"
    assert at.number_input(key="train.cfg.epochs").value == 7
    assert at.selectbox(key="train.cfg.backbone").value == preset("best").backbone


def test_invalid_value_shows_error_and_disables_launch(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    at.text_input(key="train.cfg.merge_classes").input("disgust").run()
    assert any("merge_classes" in e.value for e in at.error)
    assert at.button(key="train.launch").disabled
    assert at.button(key="train.launch_sweep").disabled


def test_launch_queues_a_run_with_the_form_values(runs_dir: Path, no_worker: None) -> None:
    at = page(runs_dir).run()
    at.number_input(key="train.cfg.epochs").set_value(2)
    at.text_input(key="train.cfg.merge_classes").input("disgust:angry")
    at.button(key="train.launch").click().run()
    assert not at.exception
    (run_dir,) = run_folders(runs_dir)
    config = runs.read_config(run_dir)["config"]
    assert config["epochs"] == 2 and config["merge_classes"] == {"disgust": "angry"}
    assert runs.read_status(run_dir)["state"] == "queued"
    assert any(run_dir.name in s.value for s in at.success)
    cancel = at.button(key=f"train.cancel.{run_dir.name}")  # listed as a job at once
    assert cancel.label == "Cancel"


def test_cancel_button_cancels_a_queued_job(runs_dir: Path, no_worker: None) -> None:
    run_dir = tasks.launch(preset("fast-cpu"), runs_root=runs_dir, preset="fast-cpu")
    at = page(runs_dir).run()
    assert any(f"**{run_dir.name}** · queued" in m.value for m in at.markdown)
    at.button(key=f"train.cancel.{run_dir.name}").click().run()
    assert runs.read_status(run_dir)["state"] == "cancelled"
    assert any(f"**{run_dir.name}** · cancelled" in m.value for m in at.markdown)


def test_sweep_launches_one_job_per_combination(runs_dir: Path, no_worker: None) -> None:
    at = page(runs_dir).run()
    at.text_input(key="train.sweep.batch_size").input("16, 32")
    at.text_input(key="train.sweep.dropout").input("0.3 0.5")
    at.run()
    assert any("4 jobs" in c.value for c in at.caption)
    at.button(key="train.launch_sweep").click().run()
    folders = run_folders(runs_dir)
    combos = {(runs.read_config(d)["config"]["batch_size"],
               runs.read_config(d)["config"]["dropout"]) for d in folders}
    assert combos == {(16, 0.3), (16, 0.5), (32, 0.3), (32, 0.5)}
    assert len({runs.read_status(d)["sweep"] for d in folders}) == 1


def test_sweep_with_out_of_range_value_shows_error(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    at.text_input(key="train.sweep.batch_size").input("0, 32").run()
    assert any("batch_size must be between 1 and 2048" in e.value for e in at.error)
    assert at.button(key="train.launch_sweep").disabled


def test_job_list_shows_finished_demo_run_as_succeeded(runs_dir: Path, demo_run: Path) -> None:
    shutil.copytree(demo_run, runs_dir / demo_run.name)
    at = page(runs_dir).run()
    assert not at.exception
    assert any(f"**{demo_run.name}** · succeeded" in m.value for m in at.markdown)
    assert [p.value for p in at.progress] == [100]
    assert "test accuracy" in at.progress[0].proto.text
    assert not [b for b in at.button if b.key == f"train.cancel.{demo_run.name}"]


def test_job_list_shows_failed_run_error_and_log(runs_dir: Path) -> None:
    run_dir = write_failed_run(runs_dir)
    at = page(runs_dir).run()
    assert any("weights file not found" in e.value and run_dir.name in e.value for e in at.error)
    assert any("boom in build_model" in c.value for c in at.code)


def test_failed_run_with_backup_can_be_resumed(runs_dir: Path, no_worker: None) -> None:
    run_dir = write_failed_run(runs_dir)
    at = page(runs_dir).run()
    assert not [b for b in at.button if b.key == f"train.resume.{run_dir.name}"]
    atomic.write_json(run_dir / "backup" / "phase1" / "training_metadata.json", {"epoch": 1})
    at.run()
    at.button(key=f"train.resume.{run_dir.name}").click().run()
    assert runs.read_status(run_dir)["state"] == "queued"
    assert any(f"**{run_dir.name}** · queued" in m.value for m in at.markdown)


def test_job_list_shows_running_job_progress(runs_dir: Path) -> None:
    run_dir = runs.create_run(preset("fast-cpu").to_dict(), run_dir=runs_dir / "r1")
    runs.write_status(run_dir, state="running", pid=None, host="elsewhere",
                      started=runs.now_iso(),
                      progress={"phase": 1, "epoch": 3, "epochs": 30, "step": 5, "steps": 10,
                                "fraction": 0.083, "eta_seconds": 125.0,
                                "metrics": {"loss": 1.5, "accuracy": 0.4}})
    runs.append_history(run_dir, {"phase": 1, "epoch": 1, "loss": 1.9, "accuracy": 0.3,
                                  "val_loss": 1.8, "val_accuracy": 0.32})
    at = page(runs_dir).run()
    assert not at.exception
    bar = at.progress[0]
    assert bar.value == 8 and "epoch 3/30" in bar.proto.text and "step 5/10" in bar.proto.text
    assert "ETA 2 min" in bar.proto.text
    assert at.button(key="train.cancel.r1").label == "Cancel"
    charts = at.get("vega_lite_chart")  # loss and accuracy so far
    assert ['"Loss"' in c.proto.spec for c in charts] == [True, False]
    assert ['"Accuracy"' in c.proto.spec for c in charts] == [False, True]


@pytest.mark.slow
def test_launch_button_starts_a_real_job(runs_dir: Path) -> None:
    at = page(runs_dir).run()
    at.number_input(key="train.cfg.epochs").set_value(1)
    at.number_input(key="train.cfg.subsample_per_class").set_value(60)
    at.button(key="train.launch").click().run()
    (run_dir,) = run_folders(runs_dir)
    try:
        assert runs.effective_state(runs.read_status(run_dir)) in ("queued", "running")
        assert not at.exception
    finally:
        tasks.cancel(run_dir)
        # cancelled while queued or while TensorFlow still imports: cancelled, not failed
        assert tasks.wait(run_dir, timeout=120, poll_seconds=0.2) == "cancelled"


# --- views.progress -------------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (-1, "-"), (float("nan"), "-"), (0, "0 s"), (42.4, "42 s"),
    (185, "3 min 05 s"), (3720, "1 h 02 min"),
])
def test_format_duration_gives_short_readable_text(seconds, text) -> None:
    assert progress.format_duration(seconds) == text


def test_elapsed_seconds_runs_to_finish_or_now() -> None:
    status = {"started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:30+00:00"}
    assert progress.elapsed_seconds(status) == 90
    started = {"started": "2026-01-01T00:00:00+00:00"}
    now = progress.parse_time("2026-01-01T00:00:10+00:00")
    assert progress.elapsed_seconds(started, now=now) == 10
    assert progress.elapsed_seconds({}) is None


def test_eta_counts_down_from_last_estimate_and_stops_at_zero() -> None:
    status = {"updated": "2026-01-01T00:00:00+00:00", "progress": {"eta_seconds": 60}}
    at_10s = progress.parse_time("2026-01-01T00:00:10+00:00")
    assert progress.eta_seconds(status, now=at_10s) == 50
    assert progress.eta_seconds(status, now=at_10s + 3600) == 0
    assert progress.eta_seconds({"progress": {}}) is None


@pytest.mark.parametrize(("state", "fraction", "expected"), [
    ("running", 0.25, 0.25), ("running", 1.7, 1.0), ("running", -0.1, 0.0),
    ("running", "x", 0.0), ("queued", None, 0.0), ("succeeded", 0.4, 1.0),
])
def test_progress_fraction_is_clamped_between_zero_and_one(state, fraction, expected) -> None:
    assert progress.progress_fraction(state, {"fraction": fraction}) == expected


def _info(run_id: str, state: str, **status) -> runs.RunInfo:
    return runs.RunInfo(run_id=run_id, path=Path(run_id), state=state,
                        record=runs.RunRecord(config={"backbone": "fer-cnn"}),
                        status={"state": state, **status},
                        metrics=None)


def test_job_rows_put_running_then_queue_order_then_recent_finished() -> None:
    infos = [_info("f3", "succeeded"), _info("q2", "queued", queued=NOW + 2),
             _info("f2", "failed", error="boom"), _info("q1", "queued", queued=NOW + 1),
             _info("r1", "running"), _info("f1", "cancelled")]
    rows = progress.job_rows(infos, recent=2, now=NOW)
    assert [r.run_id for r in rows] == ["r1", "q1", "q2", "f3", "f2"]
    assert [r.queue_position for r in rows[1:3]] == [1, 2]
    assert rows[4].error == "boom" and rows[3].error is None
    assert [r.active for r in rows] == [True, True, True, False, False]


def test_job_row_tolerates_malformed_progress() -> None:
    row = progress.job_row(_info("r", "running", progress={"epoch": "3", "fraction": None,
                                                           "metrics": "bad"}))
    assert row.epoch is None and row.fraction == 0.0 and row.metrics == {}
    assert "starting" in progress.progress_text(row)


def test_progress_text_names_epoch_step_and_eta() -> None:
    row = progress.JobRow(run_id="r", path=Path("r"), state="running", phase=1, epoch=3,
                          epochs=30, step=12, steps=45, eta_seconds=125, elapsed_seconds=40)
    assert progress.progress_text(row) == ("epoch 3/30 · step 12/45 · 40 s elapsed · "
                                           "ETA 2 min 05 s")
    last = progress.JobRow(run_id="r", path=Path("r"), state="running", epoch=30, epochs=30,
                           step=45, steps=45, fraction=1.0, eta_seconds=0)
    assert progress.progress_text(last).endswith("step 45/45 · evaluating")
    done = progress.JobRow(run_id="d", path=Path("d"), state="succeeded", epoch=30, epochs=30,
                           step=45, steps=45, elapsed_seconds=600)
    assert progress.progress_text(done) == "epoch 30/30 · succeeded after 10 min 00 s"
    queued = progress.JobRow(run_id="q", path=Path("q"), state="queued", queue_position=2)
    assert progress.progress_text(queued) == "Queued, position 2 in the queue"


def test_parse_values_types_values_by_field() -> None:
    assert progress.parse_values("batch_size", "16, 32, 64") == [16, 32, 64]
    assert progress.parse_values("learning_rate", "1e-3 1e-4,1e-3") == [1e-3, 1e-4]
    assert all(isinstance(v, float) for v in progress.parse_values("dropout", "0.3, 0.5"))


@pytest.mark.parametrize(("name", "text", "message"), [
    ("batch_size", "16, 3.5", "batch_size must be a int"),
    ("batch_size", "0", "between 1 and 2048"),
    ("dropout", "0.95", "between 0 and 0.9"),
    ("colour", "1", "Unknown config field"),
    ("drop_classes", "disgust", "cannot be swept"),
])
def test_parse_values_rejects_bad_values_with_field_message(name, text, message) -> None:
    with pytest.raises(ConfigError, match=message):
        progress.parse_values(name, text)


def test_parse_sweep_grid_leaves_out_empty_inputs_and_counts_jobs() -> None:
    grid = progress.parse_sweep_grid({"batch_size": "16, 32", "learning_rate": " ",
                                      "dropout": "0.3,0.4,0.5"})
    assert grid == {"batch_size": [16, 32], "dropout": [0.3, 0.4, 0.5]}
    assert progress.sweep_size(grid) == 6 and progress.sweep_size({}) == 0


# --- views.forms --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_form_values_of_a_preset_build_the_same_config(name: str) -> None:
    config = preset(name)
    values = {f.name: forms.to_widget_value(f, getattr(config, f.name))
              for f in config_fields()}
    assert json.loads(json.dumps(values)) == values  # plain values, as widgets hold them
    assert forms.build_config(values) == config
    assert forms.preset_description(name)


def test_number_spec_keeps_field_range_and_type() -> None:
    batch = forms.field_spec("batch_size")
    assert (batch.low, batch.high, batch.step, batch.format) == (1, 2048, 1, "%d")
    rate = forms.field_spec("learning_rate")
    assert isinstance(rate.low, float) and rate.format == "%g"
    assert rate.step < TrainConfig().learning_rate * 10


def test_every_field_has_an_explicit_kind_and_a_spec() -> None:
    """No field falls back to a text box: each declares a kind, and its spec matches it."""
    kinds = {}
    for f in config_fields():
        assert isinstance(f.metadata.get("kind"), FieldKind), f.name
        spec = forms.widget_spec(f)
        kinds[f.name] = spec.kind
        assert spec.kind is field_kind(f) and spec.label and spec.help, f.name
        numeric = spec.kind in (FieldKind.INT, FieldKind.FLOAT)
        assert numeric == (spec.step is not None) == (spec.format is not None), f.name
        if numeric:
            assert all(isinstance(v, spec.kind.python_type) for v in (spec.low, spec.high)), f.name
        if spec.kind in (FieldKind.CHOICE, FieldKind.BACKBONE):
            assert spec.default in spec.choices, f.name
    assert kinds["backbone"] is FieldKind.BACKBONE and kinds["optimizer"] is FieldKind.CHOICE
    assert kinds["drop_classes"] is FieldKind.CLASSES
    assert kinds["merge_classes"] is FieldKind.MAPPING
    assert kinds["augment"] is FieldKind.BOOL and kinds["epochs"] is FieldKind.INT
    assert kinds["data"] is FieldKind.TEXT and kinds["dropout"] is FieldKind.FLOAT


def test_a_field_without_a_kind_is_refused() -> None:
    bare = dataclasses.field(default="x")
    bare.name = "bare"
    with pytest.raises(ConfigError, match="bare has no FieldKind"):
        forms.widget_spec(bare)
    with pytest.raises(TypeError, match="No FieldKind for a default of type tuple"):
        param((1, 2), "A pair.", group="data")


def test_form_values_are_typed_without_going_through_text() -> None:
    values = forms.from_widget_values({"merge_classes": "disgust:angry, fear:sad",
                                       "drop_classes": None, "data": "  ", "colour": 1})
    assert values == {"merge_classes": {"disgust": "angry", "fear": "sad"},
                      "drop_classes": [], "data": ""}
    assert forms.from_widget_values({"merge_classes": " "}) == {"merge_classes": {}}
    with pytest.raises(ConfigError, match=r"merge_classes takes from:to pairs.*'x' is not one"):
        forms.build_config({"merge_classes": "disgust:angry, x"})


def test_a_running_job_being_cancelled_says_so_and_cannot_be_cancelled_twice(
        runs_dir: Path, no_worker: None) -> None:
    run_dir = tasks.launch(preset("fast-cpu"), runs_root=runs_dir, preset="fast-cpu")
    runs.start(run_dir, pid=os.getpid())  # alive: this process stands for the training job
    runs.report_progress(run_dir, {"phase": 1, "epoch": 1, "epochs": 2, "step": 3, "steps": 9})
    runs.request_cancel(run_dir)
    at = page(runs_dir).run()
    assert not at.exception
    assert at.button(key=f"train.cancel.{run_dir.name}").disabled
    bar = [p for p in at.get("progress") if "Cancelling" in p.proto.text]
    assert bar and bar[0].proto.text.startswith("Cancelling: evaluating the best model so far")


def test_a_job_cancelled_within_its_first_epoch_counts_only_that_epoch(runs_dir: Path) -> None:
    run_dir = runs.create_run(preset("fast-cpu").to_dict(), run_dir=runs_dir / "20260101-000000-x")
    runs.report_progress(run_dir, {"phase": 1, "epoch": 2, "epochs": 2, "step": 9, "steps": 9})
    runs.write_metrics(run_dir, {"epochs": 1, "cancelled": True})
    runs.finish(run_dir, "cancelled")
    (row,) = progress.job_rows(runs.list_runs(runs_dir))
    assert progress.progress_text(row) == "epoch 1/2 · cancelled"  # not 2/2: one ran
