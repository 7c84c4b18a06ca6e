"""Faults around run folders: a full disk, runs that vanish or are half-copied, unsafe ids."""

from __future__ import annotations

import errno
import shutil

import pytest

from fer_core import runs
from fer_core.core import atomic
from fer_core.core.config import preset
from fer_core.core.errors import RunError
from fer_core.tasks.train import train


@pytest.mark.slow
def test_disk_full_during_training_fails_the_job_and_leaves_other_runs_intact(
    tmp_path, monkeypatch, demo_run
):
    neighbour = shutil.copytree(demo_run, tmp_path / "20260101-000000-neighbour")
    before = {p.name: p.read_bytes() for p in neighbour.iterdir() if p.is_file()}
    real_write = atomic.write_text

    def full_disk(path, text):
        if path.name == "history.csv":  # the first write of an epoch's results
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, text)

    monkeypatch.setattr(atomic, "write_text", full_disk)
    run_dir = tmp_path / "20260101-000001-victim"
    with pytest.raises(OSError, match="No space left on device"):
        train(preset("fast-cpu").replace(epochs=2, subsample_per_class=50), run_dir)

    status = runs.read_status(run_dir)
    assert status["state"] == "failed"
    assert "No space left on device" in status["error"]
    assert "No space left on device" in (run_dir / "log.txt").read_text()
    assert {p.name: p.read_bytes() for p in neighbour.iterdir() if p.is_file()} == before
    assert not list(tmp_path.rglob("*.tmp")), "no temporary file may be left behind"
    assert runs.read_run(neighbour).state == "succeeded"


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    atomic.write_json(target, {"state": "running"})

    def broken(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(target), "write_bytes", broken)
    with pytest.raises(OSError):
        atomic.write_json(target, {"state": "failed"})
    monkeypatch.undo()
    assert runs.read_json(target) == {"state": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_read_run_half_copied_folder_reports_the_problem(tmp_path, demo_run):
    half = shutil.copytree(demo_run, tmp_path / "20260101-000000-half")
    (half / "config.json").write_text('{"config": {"backbone": ')  # cut mid-copy
    (half / "metrics.json").unlink()
    info = runs.read_run(half)
    assert info.problem == "config.json is missing or damaged"
    assert info.metrics is None
    table = runs.runs_table(runs.list_runs(tmp_path))
    assert table.loc[0, "run"] == half.name


def test_list_runs_survives_a_run_deleted_between_listing_and_reading(tmp_path, demo_run):
    gone = shutil.copytree(demo_run, tmp_path / "20260101-000000-gone")
    shutil.rmtree(gone)
    assert runs.read_run(gone).problem is not None
    assert runs.list_runs(tmp_path) == []


@pytest.mark.parametrize("run_id", ["../escape", "/abs", "a/b", "..", ".hidden", "", "x" * 200])
def test_run_path_unsafe_id_is_refused(tmp_path, run_id):
    with pytest.raises(RunError, match="run id must be"):
        runs.run_path(run_id, runs_root=tmp_path)


def test_new_run_id_label_cannot_escape_the_runs_folder(tmp_path):
    run_id = runs.new_run_id("../../etc/passwd", runs_root=tmp_path)
    assert "/" not in run_id and ".." not in run_id
    assert runs.run_path(run_id, runs_root=tmp_path).parent == tmp_path
