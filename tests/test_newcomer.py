"""A new user's first steps: the data source they pick wins, a bad upload is refused where it
was made, the app opens on a Start page with links, and a finished job links to its results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs
from fer_core.core.config import config_fields
from fer_core.core.errors import DataError, RunError
from fer_core.data import DEMO_DATA, DataRef, load_dataset
from fer_core.data.check import check_location, check_upload
from tests.conftest import make_kaggle_tree

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TRAIN_PAGE = str(ROOT / "app_pages" / "train.py")
RESULTS_PAGE = str(ROOT / "app_pages" / "results.py")


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "info", "caption", "warning", "error")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def _app(tmp_path: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    return at


# --- the data source ----------------------------------------------------------------------------

def test_load_dataset_never_reads_fer_data_dir(env_data):
    for location in (None, DEMO_DATA):
        demo = load_dataset(location)
        assert demo.synthetic and len(demo) == 3500


def _sidebar_script() -> None:
    from ui.sidebar import render_sidebar

    render_sidebar()


def test_sidebar_demo_choice_wins_over_fer_data_dir(tmp_path, env_data):
    at = AppTest.from_function(_sidebar_script, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.run()
    assert at.sidebar.text_input(key="sidebar.path").value == str(env_data)
    assert at.session_state["app.data"] == DataRef(env_data)
    at.sidebar.radio(key="sidebar.source").set_value("Demo data (synthetic)").run()
    assert not at.exception
    assert at.session_state["app.data"] == DataRef()
    # back to the folder: the path typed before is still there, and chosen again
    at.sidebar.radio(key="sidebar.source").set_value("A folder or file on this machine").run()
    assert at.sidebar.text_input(key="sidebar.path").value == str(env_data)
    assert at.session_state["app.data"] == DataRef(env_data)


@pytest.mark.parametrize("chosen", ["env", None])
def test_explore_header_shows_the_sidebar_choice_not_fer_data_dir(tmp_path, env_data, chosen):
    at = AppTest.from_file(str(ROOT / "app_pages" / "explore.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.session_state["app.data"] = DataRef(env_data) if chosen else DataRef()
    at.run()
    assert not at.exception
    text = _texts(at)
    assert (f"`{env_data}`" in text) == bool(chosen)  # the header names the sidebar's path
    assert ("Synthetic demo data" in text) != bool(chosen)


def test_train_launch_with_demo_chosen_records_demo_in_the_job(tmp_path, env_data, monkeypatch):
    from fer_core import tasks

    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.session_state["app.data"] = DataRef()  # the sidebar's demo choice
    at.run()
    at.button(key="train.launch").click().run()
    assert not at.exception
    (run_dir,) = runs.run_folders(tmp_path / "runs")
    assert runs.read_config(run_dir).config["data"] == DEMO_DATA


# --- a file that is not a zip ------------------------------------------------------------------

def test_check_upload_refuses_a_file_that_is_not_a_zip():
    with pytest.raises(DataError, match=r"notes\.zip is not a zip archive"):
        check_upload("notes.zip", b"hello, not a zip")


def test_check_location_refuses_missing_paths_and_bad_zips(tmp_path):
    check_location(None)
    check_location(DEMO_DATA)
    check_location(tmp_path)
    bad = tmp_path / "data.zip"
    bad.write_bytes(b"plain text")
    with pytest.raises(DataError, match="not a valid zip archive"):
        check_location(bad)
    with pytest.raises(DataError, match="does not exist"):
        check_location(tmp_path / "nowhere")
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    with pytest.raises(DataError, match="neither a folder, a .csv nor a .zip"):
        check_location(text)


def test_sidebar_upload_of_a_non_zip_shows_error_there_and_keeps_the_demo(tmp_path):
    at = AppTest.from_function(_sidebar_script, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.run()
    at.sidebar.radio(key="sidebar.source").set_value("Upload a .zip").run()
    at.sidebar.file_uploader(key="sidebar.zip").set_value(
        ("fer2013.zip", b"this is not a zip archive", "application/zip"))
    at.run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert any("fer2013.zip is not a zip archive" in e for e in errors), errors
    assert at.session_state["app.data"] == DataRef()


def test_train_refuses_launch_on_a_data_path_that_is_not_a_data_set(tmp_path):
    bad = tmp_path / "fer2013.zip"
    bad.write_bytes(b"this is not a zip archive")
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.session_state["app.data"] = DataRef(bad)
    at.run()
    assert not at.exception
    assert any("not a valid zip archive" in e.value for e in at.error)
    assert at.button(key="train.launch").disabled
    assert at.button(key="train.launch_sweep").disabled


# --- start here, and a finished job's link ------------------------------------------------------

def test_app_opens_on_start_here_with_a_link_per_step(tmp_path):
    at = _app(tmp_path).run()
    assert not at.exception
    assert at.title[0].value == "Start here"
    links = at.get("page_link")
    assert [link.proto.label for link in links] == [
        "1. Explore the data", "2. Train a model", "3. Read the results", "4. Predict"]
    assert "synthetic demo data" in _texts(at)


def test_start_here_links_the_newest_finished_run(tmp_path, demo_run):
    shutil.copytree(demo_run, tmp_path / "runs" / demo_run.name)
    at = _app(tmp_path).run()
    assert not at.exception
    assert f"Your newest finished run is **{demo_run.name}**" in _texts(at)
    results_link = at.get("page_link")[2].proto
    assert results_link.page.endswith("results")
    assert f"runs={demo_run.name}" in results_link.query_string


def test_finished_job_card_links_to_its_own_results(tmp_path, demo_run):
    shutil.copytree(demo_run, tmp_path / "runs" / demo_run.name)
    at = _app(tmp_path).run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    (link,) = [e.proto for e in at.get("page_link")]
    assert link.label == f"Open {demo_run.name}'s results"
    assert f"runs={demo_run.name}" in link.query_string


def test_results_runs_query_param_picks_that_run(tmp_path, demo_run):
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    older = "20250101-000000-fast-cpu"
    shutil.copytree(demo_run, root / older)
    at = AppTest.from_file(RESULTS_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(root)
    at.session_state["app.data"] = DataRef()
    at.query_params["runs"] = older
    at.run()
    assert not at.exception
    assert at.multiselect(key="results.runs").value == [older]


# --- the Train form's words ---------------------------------------------------------------------

def test_form_labels_are_human_words_not_field_names():
    from views import forms

    labels = {f.name: forms.widget_spec(f).label for f in config_fields()}
    assert labels["tta"] == "Test-time augmentation views"
    assert labels["tta_shift"] == "Test-time augmentation shift (pixels)"
    assert labels["ema_momentum"].startswith("EMA momentum")
    assert labels["lr_schedule"] == "Learning-rate schedule"
    assert labels["epochs"] == "Epochs"  # a plain name still reads as itself
    assert not {"Tta", "Tta shift", "Ema momentum", "Lr schedule"} & set(labels.values())


def test_batch_size_and_precision_are_not_under_callbacks(tmp_path):
    groups = {f.name: f.metadata["group"] for f in config_fields()}
    assert groups["batch_size"] == groups["mixed_precision"] == "batches and speed"
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.run()
    assert not at.exception
    tabs = [tab.label for tab in at.tabs]
    assert "Batches and speed" in tabs and "Callbacks" not in tabs
    assert "Training" in tabs and "Fine-tuning" in tabs


def test_preset_descriptions_state_the_measured_times():
    from views import forms

    assert "28-32 minutes" in forms.preset_description("fast-cpu")
    assert "80-95 minutes" in forms.preset_description("best")
    assert "minutes on two CPU cores. " not in forms.preset_description("fast-cpu")


# --- TensorFlow's start-up noise ----------------------------------------------------------------

NOISE = [  # as TensorFlow 2.21 prints them on a machine without a GPU
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796064900.951303   23490 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796064900.952353   23490 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796064903.753177   23490 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
REAL = [
    "18:55:09 Phase 1: training the whole network end to end on augmented batches.",
    "E0000 00:00:1796064999.000000   23490 bfc_allocator.cc:1] Allocator ran out of memory",
    "Traceback (most recent call last):",
]


def test_log_tail_leaves_out_tensorflow_startup_noise_but_not_errors(tmp_path):
    from fer_core.runs import lognoise

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = runs.files(run_dir).log
    log.write_text("\n".join([NOISE[0], NOISE[1], REAL[0], NOISE[2], NOISE[3], *REAL[1:]])
                   + "\n")
    assert runs.read_log_tail(run_dir).splitlines() == REAL
    assert lognoise.move_noise(log, runs.files(run_dir).debug_log) == 4
    assert log.read_text().splitlines() == REAL
    assert runs.files(run_dir).debug_log.read_text().splitlines() == NOISE
    assert lognoise.move_noise(log, runs.files(run_dir).debug_log) == 0  # nothing left to move


# --- evaluation progress ------------------------------------------------------------------------

def test_evaluation_reports_batches_through_the_run_store_keeping_the_epoch(tmp_path,
                                                                           monkeypatch):
    import keras
    import numpy as np

    from fer_core.training.eval_progress import EvaluationProgress, evaluation_batches

    run_dir = runs.create_run({}, run_dir=tmp_path / "run")
    runs.start(run_dir, pid=1)
    runs.report_progress(run_dir, {"phase": 1, "epoch": 2, "epochs": 2, "fraction": 1.0})
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(7, activation="softmax")])
    total = evaluation_batches([50, 30], views=2, batch_size=16)
    assert total == 2 * 4 + 2 * 2
    seen = []
    callback = EvaluationProgress(run_dir, total, every_seconds=0.0)
    original = runs.report_progress

    def record(path, progress):
        seen.append(dict(progress))
        return original(path, progress)

    monkeypatch.setattr(runs, "report_progress", record)
    for n in (50, 30):
        for _ in range(2):  # two views
            model.predict(np.zeros((n, 48, 48, 1), np.float32), batch_size=16, verbose=0,
                          callbacks=[callback])
    monkeypatch.undo()
    assert [p["step"] for p in seen] == list(range(1, total + 1))
    final = runs.read_status(run_dir).progress
    assert final.stage == "evaluating" and final.step == final.steps == total
    assert final.epoch == final.epochs == 2  # the training progress is kept


def test_job_card_shows_evaluation_batches_and_eta_not_a_full_bar():
    from views import progress

    info = runs.RunInfo(
        run_id="r1", path=Path("r1"), state="running",
        record=runs.RunRecord(config={"backbone": "fer-cnn"}),
        status={"state": "running", "started": "2026-01-01T00:00:00+00:00",
                "updated": "2026-01-01T00:02:00+00:00",
                "progress": {"phase": 1, "epoch": 42, "epochs": 42, "fraction": 1.0,
                             "stage": "evaluating", "step": 5, "steps": 20,
                             "eta_seconds": 90}},
        metrics=None)
    row = progress.job_row(info, now=progress.parse_time("2026-01-01T00:02:00+00:00"))
    assert row.fraction == 0.25
    text = progress.progress_text(row)
    assert "epoch 42/42" in text
    assert "evaluating the best model, batch 5/20" in text
    assert "ETA 1 min 30 s" in text


# --- run actions: name, note, re-run, delete ----------------------------------------------------

@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    """A small succeeded run folder (no model: the actions never need one)."""
    from fer_core.core.config import preset

    run_dir = runs.create_run(preset("fast-cpu").replace(epochs=1).to_dict(),
                              run_dir=tmp_path / "runs" / "20260101-000000-fast-cpu",
                              extra={"preset": "fast-cpu"}, preset="fast-cpu")
    runs.start(run_dir, pid=1)
    runs.finish(run_dir, "succeeded")
    return run_dir


def test_annotate_sets_and_clears_name_and_note_keeping_the_folder_id(finished_run):
    from fer_core.runs import actions

    actions.annotate(finished_run, display_name="  baseline   on demo ", note="first try\n")
    status = runs.read_status(finished_run)
    assert (status.display_name, status.note) == ("baseline on demo", "first try")
    assert runs.read_run(finished_run).run_id == "20260101-000000-fast-cpu"
    actions.annotate(finished_run, note="")
    status = runs.read_status(finished_run)
    assert (status.display_name, status.note) == ("baseline on demo", None)
    with pytest.raises(RunError, match="at most 80 characters"):
        actions.annotate(finished_run, display_name="x" * 81)


def test_delete_refuses_an_active_run_and_removes_a_finished_one(tmp_path, finished_run):
    from fer_core.runs import actions

    active = runs.create_run({}, run_dir=tmp_path / "runs" / "queued-one")
    with pytest.raises(RunError, match="is queued; cancel it first"):
        actions.delete_run(active)
    assert active.is_dir()
    with pytest.raises(RunError, match="not a run folder"):
        actions.delete_run(tmp_path)
    actions.delete_run(finished_run)
    assert not finished_run.exists()


def test_rerun_launches_the_same_settings_under_a_new_id(finished_run, monkeypatch):
    from fer_core import tasks
    from fer_core.tasks.rerun import rerun

    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)
    new_dir = rerun(finished_run)
    assert new_dir != finished_run and new_dir.parent == finished_run.parent
    old = runs.read_config(finished_run).config
    assert old["data"] == ""  # written before the data choice was recorded: the default's
    assert runs.read_config(new_dir).config == {  # the data now explicit; made reproducible
        **old, "data": DEMO_DATA, "deterministic": True}
    status = runs.read_status(new_dir)
    assert (status.state, status.preset, status.rerun_of) == ("queued", "fast-cpu",
                                                               finished_run.name)


def test_run_actions_are_refused_on_a_read_only_viewer(finished_run, monkeypatch):
    from fer_core.core.errors import ReadOnlyError
    from fer_core.runs import actions
    from fer_core.tasks.rerun import rerun

    monkeypatch.setenv("FER_READ_ONLY", "1")
    for action in (lambda: actions.annotate(finished_run, display_name="x"),
                   lambda: actions.delete_run(finished_run), lambda: rerun(finished_run)):
        with pytest.raises(ReadOnlyError):
            action()
    assert finished_run.is_dir() and runs.read_status(finished_run).display_name is None
    assert len(runs.run_folders(finished_run.parent)) == 1


def test_results_page_names_reruns_and_deletes_a_run(tmp_path, demo_run, monkeypatch):
    from fer_core import tasks

    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    at = AppTest.from_file(RESULTS_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(root)
    at.session_state["app.data"] = DataRef()
    at.run()
    key = f"results.actions.{demo_run.name}"
    at.text_input(key=f"{key}.name").input("Two-epoch demo")
    at.text_area(key=f"{key}.note").input("for the README")
    at.button(key=f"FormSubmitter:{key}.form-Save name and note").click().run()
    assert not at.exception
    assert runs.read_status(root / demo_run.name).display_name == "Two-epoch demo"
    assert at.multiselect(key="results.runs").format_func(demo_run.name).startswith(
        "Two-epoch demo · ")
    at.button(key=f"{key}.rerun").click().run()
    assert not at.exception
    assert len(runs.run_folders(root)) == 2
    assert at.button(key=f"{key}.delete").disabled
    at.query_params["runs"] = [demo_run.name]  # the address names it, as a link would
    at.checkbox(key=f"{key}.sure").check().run()
    at.button(key=f"{key}.delete").click().run()
    assert not at.exception
    assert not (root / demo_run.name).exists()
    assert [s.value for s in at.success] == [
        f"Deleted {demo_run.name}: its folder is gone for good."]
    assert demo_run.name not in at.query_params.get("runs", [])


def test_deleting_the_last_run_says_it_was_deleted(tmp_path, demo_run):
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    at = AppTest.from_file(RESULTS_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(root)
    at.run()
    key = f"results.actions.{demo_run.name}"
    at.checkbox(key=f"{key}.sure").check().run()
    at.button(key=f"{key}.delete").click().run()
    assert not at.exception and not (root / demo_run.name).exists()
    assert [s.value for s in at.success] == [
        f"Deleted {demo_run.name}: its folder is gone for good."]
    assert any("No runs to show yet" in i.value for i in at.info)


def test_results_page_offers_no_run_actions_on_a_read_only_viewer(tmp_path, demo_run,
                                                                  monkeypatch):
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    runs.write_status(root / demo_run.name, display_name="Shared run")
    monkeypatch.setenv("FER_READ_ONLY", "1")  # the viewer starts on the team's folder
    at = AppTest.from_file(RESULTS_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(root)
    at.session_state["app.data"] = DataRef()
    at.run()
    assert not at.exception
    assert "**Shared run**" in _texts(at)
    keys = {b.key for b in at.button}
    assert not any(k and k.startswith("results.actions.") for k in keys)


# --- Explore's first open -----------------------------------------------------------------------

def test_audit_is_computed_once_with_progress_then_read_from_disk(fresh_cache, tmp_path):
    from fer_core.data import audit_cache

    root = make_kaggle_tree(tmp_path / "data", {"happy": 3, "sad": 2})
    ds = load_dataset(root)
    assert not audit_cache.is_cached(ds)
    seen: list[float] = []
    first = audit_cache.cached_audit(ds, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert audit_cache.is_cached(ds)
    seen.clear()
    again = audit_cache.cached_audit(ds, progress=seen.append)
    assert not seen  # read back, not searched again
    assert again.stats.equals(first.stats)
    assert (again.near_duplicate_pairs, again.leakage_pairs, again.exact_duplicate_groups) == (
        first.near_duplicate_pairs, first.leakage_pairs, first.exact_duplicate_groups)
    assert again.summary() == first.summary()


def test_explore_quality_tab_reads_the_stored_audit(tmp_path, fresh_cache):
    from fer_core.data import audit_cache

    root = make_kaggle_tree(tmp_path / "data", {"happy": 3, "sad": 2})
    at = AppTest.from_file(str(ROOT / "app_pages" / "explore.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.session_state["app.data"] = DataRef(root)
    at.session_state["explore.section"] = "Image quality"
    at.run()
    assert not at.exception
    assert audit_cache.is_cached(load_dataset(root))
    assert "10 images audited" in _texts(at)


@pytest.mark.slow
def test_warm_tensorflow_imports_pylibsrtp_first_then_keras_once():
    """In a fresh process, as the app is: TensorFlow arrives in the background, after
    pylibsrtp (the other order segfaults), and a second call starts no second thread."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from ui.warmup import warm_tensorflow\n"
        "thread = warm_tensorflow()\n"
        "assert warm_tensorflow() is thread\n"
        "thread.join(timeout=600)\n"
        "names = list(sys.modules)\n"
        "assert 'keras' in names\n"
        "if 'pylibsrtp' in names:\n"
        "    assert names.index('pylibsrtp') < names.index('tensorflow'), names\n"
        "print('warm ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warm ok" in done.stdout
