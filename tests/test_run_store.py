"""The run store: typed records that keep what they don't know, and a cancel no write can lose."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.core.errors import RunError

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 1000

# One process reports progress as fast as it can on whichever run the other is cancelling;
# the other requests a cancel on each of ROUNDS runs in turn. `WRITE` and `CANCEL` are the
# two writers under test.
REPORTER = """
import sys, time
from pathlib import Path
root = Path(sys.argv[1]); current = root / "current"; done = root / "done"
{helpers}
while not done.exists():
    try:
        target = root / current.read_text()
    except (OSError, ValueError):
        continue
    WRITE(target, progress={{"step": time.monotonic_ns()}})
"""
CANCELLER = """
import os, sys, time
from pathlib import Path
root = Path(sys.argv[1]); current = root / "current"
{helpers}
for n in range({rounds}):
    tmp = root / ".current.tmp"; tmp.write_text(f"run{{n}}"); os.replace(tmp, current)
    time.sleep(0.0002)  # let the reporter pick the run up
    CANCEL(root / f"run{{n}}")
(root / "done").write_text("")
"""
STORE = """
from fer_core import runs
WRITE = runs.write_status
CANCEL = runs.request_cancel
"""
# The read-merge-write of status.json without a lock, and the cancel as a status field: how
# status was written before the run store.
UNLOCKED = """
import json
from fer_core.core import atomic
def WRITE(run_dir, **fields):
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        status = {}
    status.update(fields)
    atomic.write_json(run_dir / "status.json", status)
def CANCEL(run_dir):
    WRITE(run_dir, cancel_requested="now")
"""


def _race(root: Path, helpers: str) -> int:
    """Run the two processes over ROUNDS runs; return how many cancels were lost."""
    for n in range(ROUNDS):
        runs.create_run({"backbone": "fer-cnn"}, run_dir=root / f"run{n}")
        runs.write_status(root / f"run{n}", state="running")
    env_code = {"helpers": textwrap.dedent(helpers), "rounds": ROUNDS}
    reporter = subprocess.Popen([sys.executable, "-c", REPORTER.format(**env_code), str(root)],
                                cwd=REPO)
    canceller = subprocess.run([sys.executable, "-c", CANCELLER.format(**env_code), str(root)],
                               cwd=REPO, timeout=300)
    reporter.wait(timeout=60)
    assert canceller.returncode == 0 and reporter.returncode == 0
    return sum(not runs.read_status(root / f"run{n}").cancel_requested for n in range(ROUNDS))


def test_cancel_request_is_never_lost_to_concurrent_progress_writes(tmp_path: Path) -> None:
    assert _race(tmp_path, STORE) == 0


def test_unlocked_status_merge_loses_cancel_requests_under_the_same_race(tmp_path: Path) -> None:
    """The same two processes with the old write: the race is real, the test can fail."""
    assert _race(tmp_path, UNLOCKED) > 0


def test_status_of_an_older_version_reads_whole_and_keeps_unknown_keys(tmp_path: Path) -> None:
    old = {"state": "running", "pid": 12, "backend": "ray", "ray_job_id": "r1",
           "ray_address": "http://head:8265", "ray_gpus": 1, "cancel_requested": "2026-01-01",
           "progress": {"epoch": 3, "epochs": "ten", "metrics": {"loss": 1.5, "bad": None}},
           "written_by_a_newer_version": {"x": 1}}
    status = runs.Status.from_json(old)
    assert (status.state, status.pid, status.cancel_requested) == ("running", 12, "2026-01-01")
    assert status.backend == runs.BackendRef("ray", "http://head:8265", "r1", 1, 1)
    assert status.progress.epoch == 3 and status.progress.epochs is None
    assert status.progress.metrics == {"loss": 1.5}
    assert status["written_by_a_newer_version"] == {"x": 1}
    assert runs.Status.from_json(status.to_json()).to_json() == status.to_json()


def test_config_record_keeps_unknown_blocks_through_a_rewrite(tmp_path: Path) -> None:
    run_dir = runs.create_run({"backbone": "fer-cnn"}, run_dir=tmp_path / "r",
                              extra={"preset": "fast-cpu", "model_card": {"owner": "lab"}})
    record = runs.read_config(run_dir)
    assert (record.config, record.preset) == ({"backbone": "fer-cnn"}, "fast-cpu")
    runs.write_config(run_dir, record)
    assert runs.read_config(run_dir)["model_card"] == {"owner": "lab"}


def test_cancel_marker_survives_status_writes_and_resume_clears_it(tmp_path: Path) -> None:
    run_dir = runs.create_run({}, run_dir=tmp_path / "r")
    runs.start(run_dir, pid=1)
    runs.request_cancel(run_dir)
    runs.report_progress(run_dir, {"step": 1})
    status = runs.read_status(run_dir)
    assert status.cancel_requested and status.progress.step == 1
    assert "cancel_requested" not in json.loads(runs.files(run_dir).status.read_text())
    runs.finish(run_dir, "failed", error="killed")
    again = runs.requeue(run_dir)
    assert (again.state, again.cancel_requested, again.error, again.resumed) == (
        "queued", None, None, 1)


def test_finish_refuses_a_state_that_is_not_an_end(tmp_path: Path) -> None:
    run_dir = runs.create_run({}, run_dir=tmp_path / "r")
    with pytest.raises(RunError, match="A run ends as one of"):
        runs.finish(run_dir, "running")
    assert runs.finish(run_dir, "failed", error="boom").error == "boom"


def test_reading_a_read_only_runs_folder_needs_no_lock(tmp_path: Path) -> None:
    run_dir = runs.create_run({"backbone": "fer-cnn"}, run_dir=tmp_path / "r")
    runs.files(run_dir).lock.unlink(missing_ok=True)
    for path in (run_dir, tmp_path):
        path.chmod(0o555)
    try:
        assert runs.list_runs(tmp_path)[0].state == "queued"
        assert not runs.files(run_dir).lock.exists()
    finally:
        for path in (tmp_path, run_dir):
            path.chmod(0o755)
