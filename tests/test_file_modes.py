"""Run files follow the process's umask, as an ordinary write does, so a read-only viewer
started as another user reads what a job wrote (temporary files are private by default)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.runs import task_folders
from fer_core.runs.archive import export_run_zip, import_run_zip


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder others may enter, as a shared mount is (pytest's own are private), written
    under the common umask 022."""
    folder = Path(tempfile.mkdtemp(prefix="fer-shared-"))
    folder.chmod(0o755)
    old = os.umask(0o022)
    yield folder
    os.umask(old)
    shutil.rmtree(folder, ignore_errors=True)


def _written_by_a_job(root: Path, demo_run: Path) -> Path:
    """A run folder written by the store's writers, an imported run and a task with an input."""
    done = demo_run
    run = runs.create_run({"epochs": 1}, run_dir=root / "20260105-000000-written")
    runs.write_metrics(run, runs.read_metrics(done))
    runs.write_history(run, runs.read_history(done))
    runs.write_predictions(run, runs.read_predictions(done))
    runs.finish(run, "succeeded")
    import_run_zip(export_run_zip(done), root)
    task_folders.create_task(task_folders.new_task_dir("video", runs_root=root),
                             task_folders.TaskRecord("video"),
                             inputs={"clip.mp4": done / "config.json"})
    return run


def test_run_files_and_folders_follow_the_umask(shared_folder: Path, demo_run: Path):
    root = shared_folder / "runs"
    _written_by_a_job(root, demo_run)
    paths = list(root.rglob("*"))
    assert len(paths) > 20
    wrong = {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (0o755 if p.is_dir() else 0o644)}
    assert wrong == {}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="dropping to another user needs root")
def test_a_viewer_running_as_another_user_reads_every_run(shared_folder: Path, demo_run: Path):
    """A child drops to ``nobody`` (no user is created) and reads as the viewer does."""
    root = shared_folder / "runs"
    run = _written_by_a_job(root, demo_run)
    expected = sorted(info.path.name for info in runs.list_runs(root))
    child = os.fork()
    if child == 0:  # the viewer: no exec, so the interpreter's own path need not be readable
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            for path in root.rglob("*"):
                if path.is_file():
                    path.read_bytes()
            seen = sorted(info.path.name for info in runs.list_runs(root))
            code = 0 if seen == expected and runs.read_predictions(run) is not None else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
