"""Read-only viewers (``FER_READ_ONLY=1``): every action that changes runs or data is refused
where it is carried out, the pages hide those controls, and viewing never writes."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fer_core import cli, runs, tasks
from fer_core.core.config import preset
from fer_core.core.errors import ReadOnlyError
from fer_core.data.uploads import choose_data, save_upload
from fer_core.export import export_run
from fer_core.inference.calibration import fit_run
from fer_core.reports.card import write_card
from fer_core.runs import task_folders
from fer_core.runs.archive import export_run_zip, import_run_zip
from tests.page_support import open_page

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("explore", "train", "results", "predict")


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FER_READ_ONLY", "1")


@pytest.fixture
def shared_runs(tmp_path: Path, demo_run: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runs folder as a team shares it: a finished run, a queued one and a failed one."""
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    config = preset("fast-cpu").to_dict()
    with monkeypatch.context() as writer:  # written by the team, before the viewer starts
        writer.delenv("FER_READ_ONLY", raising=False)
        runs.create_run(config, run_dir=root / "20260103-000000-queued")
        failed = runs.create_run(config, run_dir=root / "20260102-000000-failed")
        runs.finish(failed, "failed", error="The training process exited with code 1.")
    monkeypatch.setenv("FER_RUNS_DIR", str(root))
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, float]]:
    """Every file and folder under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in [root, *root.rglob("*")]}


@pytest.fixture
def locked_runs(shared_runs: Path) -> Iterator[Path]:
    """``shared_runs`` with every write permission taken away (root ignores them, so the
    tests also compare the folder before and after)."""
    paths = [shared_runs, *shared_runs.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    for path in paths:
        path.chmod(modes[path] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield shared_runs
    for path in reversed(paths):
        path.chmod(modes[path])


# --- the engine refuses ----------------------------------------------------------------------

def test_read_only_every_action_is_refused_where_it_is_carried_out(read_only, shared_runs,
                                                                    demo_run):
    before = _snapshot(shared_runs)
    config = preset("fast-cpu").replace(epochs=1)
    queued, failed = shared_runs / "20260103-000000-queued", shared_runs / "20260102-000000-failed"
    actions = {
        "Launching a job": lambda: tasks.launch(config, runs_root=shared_runs),
        "Launching a sweep": lambda: tasks.launch_sweep(config, {"batch_size": [16, 32]},
                                                        runs_root=shared_runs),
        "Cancelling a job": lambda: tasks.cancel(queued),
        "Resuming a job": lambda: tasks.resume(failed),
        "Importing a run": lambda: import_run_zip(export_run_zip(demo_run), shared_runs),
        "Uploading data": lambda: save_upload("fer2013.zip", b"PK\x05\x06" + bytes(18)),
        "Changing the data set": lambda: choose_data("/data/fer2013", current=None),
    }
    for action, call in actions.items():
        with pytest.raises(ReadOnlyError, match=f"{action} is not allowed here"):
            call()
    assert _snapshot(shared_runs) == before
    assert runs.read_status(queued).state == "queued"


def _store_writers(root: Path, done: Path) -> dict[str, Any]:
    """Every function that writes into a runs folder, each called as its callers call it."""
    queued = root / "20260103-000000-queued"
    return {
        "create_run": lambda: runs.create_run({}, run_dir=root / "20260104-000000-new"),
        "write_status": lambda: runs.write_status(done, state="failed"),
        "report_progress": lambda: runs.report_progress(queued, {"fraction": 0.5}),
        "request_cancel": lambda: runs.request_cancel(queued),
        "finish": lambda: runs.finish(queued, "cancelled"),
        "write_config": lambda: runs.write_config(done, runs.read_config(done)),
        "append_history": lambda: runs.append_history(done, {"epoch": 9}),
        "write_history": lambda: runs.write_history(done, runs.read_history(done)),
        "write_metrics": lambda: runs.write_metrics(done, runs.read_metrics(done)),
        "write_predictions": lambda: runs.write_predictions(done, runs.read_predictions(done)),
        "create_task": lambda: task_folders.create_task(
            task_folders.new_task_dir("export", runs_root=root), task_folders.TaskRecord("export")),
        "write_card": lambda: write_card(done),
        "calibrate": lambda: fit_run(done),
        "export into the run": lambda: export_run(done, ["onnx"], out_dir=done / "mine"),
        "suspects pass": lambda: tasks.submit("suspects", {}, runs_root=root),
    }


def test_read_only_every_writer_of_the_store_refuses_before_writing(read_only, shared_runs,
                                                                    demo_run):
    """The gate sits in the store's writes, so no caller (page, command, task) can miss it."""
    done = shared_runs / demo_run.name
    before = _snapshot(shared_runs)
    for name, call in _store_writers(shared_runs, done).items():
        with pytest.raises(ReadOnlyError, match="is not allowed here"):
            call()
        assert _snapshot(shared_runs) == before, name


@pytest.mark.parametrize("argv", [["calibrate"], ["runs", "card"]])
def test_read_only_trust_commands_refuse_to_write_into_a_run(read_only, shared_runs, demo_run,
                                                             argv, capsys):
    before = _snapshot(shared_runs)
    assert cli.main([*argv, str(shared_runs / demo_run.name)]) == 2
    assert "read-only viewer" in capsys.readouterr().err
    assert _snapshot(shared_runs) == before


def test_read_only_keeping_the_same_data_set_is_allowed(read_only):
    assert choose_data("/data/fer2013", current="/data/fer2013") == "/data/fer2013"
    assert choose_data(None, current=None) is None


def test_writable_app_changes_data_and_keeps_uploads(tmp_path, monkeypatch):
    """An upload is kept beside the runs, the folder a Ray worker shares, out of their list."""
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    assert choose_data("/data/fer2013", current=None) == "/data/fer2013"
    path = save_upload("../../evil name.zip", b"zip bytes")
    assert path.parent == tmp_path / "runs" / ".uploads" and path.read_bytes() == b"zip bytes"
    assert runs.list_runs(tmp_path / "runs") == []


@pytest.mark.parametrize("argv", [["jobs", "launch", "--preset", "fast-cpu"],
                                  ["jobs", "cancel", "20260103-000000-queued"],
                                  ["jobs", "resume", "20260102-000000-failed"],
                                  ["train", "--preset", "fast-cpu", "--set", "epochs=1"]])
def test_read_only_cli_refuses_with_exit_2_and_the_reason(read_only, shared_runs, argv, capsys):
    before = _snapshot(shared_runs)
    assert cli.main(argv) == 2
    assert "read-only viewer" in capsys.readouterr().err
    assert _snapshot(shared_runs) == before


def test_read_only_cli_lists_jobs_without_writing(read_only, locked_runs, capsys):
    before = _snapshot(locked_runs)
    assert cli.main(["jobs", "list"]) == 0
    assert "20260103-000000-queued" in capsys.readouterr().out
    assert _snapshot(locked_runs) == before


# --- the pages ---------------------------------------------------------------------------------

def _page(name: str, runs_root: Path) -> AppTest:
    return open_page(name, runs_root)


@pytest.mark.slow
def test_read_only_every_page_renders_on_a_runs_folder_it_cannot_write(read_only, locked_runs):
    before = _snapshot(locked_runs)
    for name in PAGES:
        at = _page(name, locked_runs).run()
        assert not at.exception, name
        buttons = {b.label for b in at.button}
        assert not buttons & {"Launch", "Cancel", "Resume"}, name
        assert not [u for u in at.get("file_uploader") if u.proto.id.endswith("results.import")]
    assert _snapshot(locked_runs) == before


def test_read_only_train_page_shows_jobs_without_controls(read_only, shared_runs):
    at = _page("train", shared_runs).run()

    assert not at.exception
    assert any("Read-only view" in i.value for i in at.info)
    assert "train.launch" not in {b.key for b in at.button}
    assert not [c for c in at.caption if "launch" in c.value.lower()]  # it speaks as a viewer
    markdown = " ".join(m.value for m in at.markdown)
    assert "20260103-000000-queued" in markdown and "20260102-000000-failed" in markdown


def _app(runs_root: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(runs_root)
    return at.run()


def test_read_only_sidebar_shows_the_note_and_no_data_controls(read_only, shared_runs):
    at = _app(shared_runs)

    assert not at.exception
    assert any("Read-only view" in i.value for i in at.sidebar.info)
    assert not at.sidebar.radio and not at.sidebar.text_input
    assert not _page("results", shared_runs).run().get("file_uploader")  # no run import


def test_writable_sidebar_and_results_keep_their_controls(shared_runs):
    at = _app(shared_runs)

    assert not at.exception
    assert at.sidebar.radio(key="sidebar.source").value == "Demo data (synthetic)"
    assert not [i for i in at.sidebar.info if "Read-only" in i.value]
    assert len(_page("results", shared_runs).run().get("file_uploader")) == 1  # the run import
