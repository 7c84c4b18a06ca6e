"""Background jobs: launch, the FIFO queue, cancel, crash detection, two app instances, the CLI.

The tests marked ``slow`` start real worker and training processes on the demo data, with a
tiny config (60 images per class) so each job is mostly TensorFlow's start-up. Scenarios that
need several jobs run once per module and several tests read what they recorded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs, tasks
from fer_core.core.errors import RunError
from fer_core.runs import lognoise, parse_time
from tests import job_support
from tests.job_support import has_step_progress, long_tiny, tiny

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PAGE = str(ROOT / "app_pages" / "train.py")
JOB_TIMEOUT = 150  # seconds; a tiny job takes ~15 s, most of it TensorFlow's import


class NoWorker:
    """A local backend that only queues: the test starts the workers itself."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def submit(self, run_dir: Path) -> None:
        pass

    def cancel(self, run_dir: Path) -> None:
        tasks.LocalBackend(self.root).cancel(run_dir)


def state_of(run_dir: Path) -> str:
    return runs.effective_state(runs.read_status(run_dir))


def poll(run_dir: Path, until: Callable[[dict], bool], *, timeout: float = JOB_TIMEOUT) -> dict:
    return job_support.poll(run_dir, until, timeout=timeout, interval=0.1)


def stop_all(root: Path) -> None:
    """Leave no process behind: cancel whatever still runs or waits, and wait for it."""
    for info in runs.list_runs(root):
        if info.state in ("queued", "running"):
            tasks.cancel(info.path)
    for info in runs.list_runs(root):
        if info.status.get("state") == "running":
            try:
                tasks.wait(info.path, timeout=60, poll_seconds=0.2)
            except RunError:
                os.kill(int(info.status["pid"]), signal.SIGKILL)


def run_folder_lines(run_dir: Path) -> int:
    """How often a training process started on this run (the CLI prints this line first)."""
    log = run_dir / "log.txt"
    return log.read_text(errors="replace").count("Run folder:") if log.exists() else 0


def cli(*args: str, root: Path, timeout: float = JOB_TIMEOUT) -> subprocess.CompletedProcess:
    env = {**os.environ, "FER_RUNS_DIR": str(root)}
    return subprocess.run([sys.executable, "-m", "fer_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def page(root: Path) -> AppTest:
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(root)
    return at


def shown_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [p.proto.text for p in at.progress]
    parts += [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(parts)


# --- without processes --------------------------------------------------------------------------

def test_launch_without_worker_writes_a_queued_run(tmp_path: Path) -> None:
    run_dir = tasks.launch(tiny(), runs_root=tmp_path, preset="fast-cpu",
                          backend=NoWorker(tmp_path))
    status = runs.read_status(run_dir)
    assert run_dir.parent == tmp_path and status["state"] == "queued"
    assert status["preset"] == "fast-cpu" and status["backend"] == "local"
    # no data named: the default (the demo here, FER_DATA_DIR being unset), recorded as such
    assert runs.read_config(run_dir)["config"] == tiny().replace(data="demo").to_dict()


def test_queued_runs_order_is_first_in_first_out(tmp_path: Path) -> None:
    backend = NoWorker(tmp_path)
    launched = [tasks.launch(tiny(seed=n), runs_root=tmp_path, backend=backend) for n in range(3)]
    assert tasks.queued_runs(tmp_path) == launched


def test_sweep_configs_make_one_config_per_combination() -> None:
    configs = tasks.sweep_configs(tiny(), {"batch_size": [16, 32], "dropout": [0.3, 0.5],
                                          "learning_rate": []})
    assert {(c.batch_size, c.dropout) for c in configs} == {(16, 0.3), (16, 0.5), (32, 0.3),
                                                            (32, 0.5)}
    assert all(c.learning_rate == tiny().learning_rate for c in configs)


def test_launch_sweep_groups_jobs_under_one_sweep_name(tmp_path: Path) -> None:
    run_dirs = tasks.launch_sweep(tiny(), {"batch_size": [16, 32, 64]}, preset="fast-cpu",
                                 runs_root=tmp_path, backend=NoWorker(tmp_path))
    sweeps = {runs.read_status(d)["sweep"] for d in run_dirs}
    sizes = sorted(runs.read_config(d)["config"]["batch_size"] for d in run_dirs)
    assert len(sweeps) == 1 and sweeps.pop().startswith("sweep-") and sizes == [16, 32, 64]


def test_launch_sweep_without_values_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="at least one value"):
        tasks.launch_sweep(tiny(), {"batch_size": []}, runs_root=tmp_path,
                          backend=NoWorker(tmp_path))


def test_cancel_queued_job_is_cancelled_and_never_started(tmp_path: Path) -> None:
    run_dir = tasks.launch(tiny(), runs_root=tmp_path, backend=NoWorker(tmp_path))
    tasks.cancel(run_dir)
    assert tasks.run_job(run_dir) == 0  # the worker's turn comes: nothing starts
    status = runs.read_status(run_dir)
    assert status["state"] == "cancelled" and "pid" not in status and "started" not in status
    assert tasks.queued_runs(tmp_path) == [] and not (run_dir / "log.txt").exists()


def test_cancel_racing_the_worker_start_always_ends_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel and the worker starting the same job, at the same instant, many times: the
    cancel is never lost (the job never trains on, nor ends as failed)."""
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen",
                        lambda args, **kwargs: real_popen(["sleep", "5"], **kwargs))
    outcomes = []
    for n in range(25):
        run_dir = tasks.launch(tiny(seed=n), runs_root=tmp_path, backend=NoWorker(tmp_path))
        starter = threading.Thread(target=tasks.run_job, args=(run_dir,))
        starter.start()
        time.sleep(n % 5 * 0.001)
        tasks.cancel(run_dir)
        starter.join(timeout=30)
        outcomes.append(runs.read_status(run_dir)["state"])
    assert set(outcomes) == {"cancelled"}


def test_effective_state_running_with_dead_process_is_failed(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # reaped: the pid is gone
    run_dir = runs.create_run(tiny().to_dict(), run_dir=tmp_path / "crashed")
    runs.write_status(run_dir, state="running", pid=process.pid, host=socket.gethostname())
    assert state_of(run_dir) == "failed"
    assert runs.read_run(run_dir).state == "failed"


def test_local_backend_resolves_a_relative_runs_folder(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tasks.LocalBackend(Path("runs")).runs_root == tmp_path.resolve() / "runs"


# --- real processes: two jobs, two workers -------------------------------------------------------

@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two queued jobs, then two workers started at once on the folder (two app instances).

    Records every state the first job went through and whether both ever ran together.
    """
    root = tmp_path_factory.mktemp("two-jobs")
    backend = NoWorker(root)
    first = tasks.launch(tiny(), runs_root=root, preset="fast-cpu", backend=backend)
    second = tasks.launch(tiny(seed=1), runs_root=root, preset="fast-cpu", backend=backend)
    facts: dict = {"root": root, "first": first, "second": second, "states": [],
                   "progress_seen": False, "both_running": False}
    env = {**os.environ, "FER_RUNS_DIR": str(root)}
    command = [sys.executable, "-m", "fer_core", "jobs", "worker", "--runs-dir", str(root)]
    workers = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(2)]
    try:
        deadline = time.monotonic() + 2 * JOB_TIMEOUT
        while time.monotonic() < deadline:
            status = runs.read_status(first)
            state = runs.effective_state(status)
            if not facts["states"] or facts["states"][-1] != state:
                facts["states"].append(state)
            facts["progress_seen"] |= has_step_progress(status)
            facts["both_running"] |= state == state_of(second) == "running"
            if state in runs.FINAL_STATES and state_of(second) in runs.FINAL_STATES:
                break
            time.sleep(0.1)
        facts["worker_codes"] = [w.wait(timeout=60) for w in workers]
        yield facts
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        stop_all(root)


@pytest.mark.slow
def test_launch_job_goes_queued_running_succeeded_with_progress(two_jobs: dict) -> None:
    first: Path = two_jobs["first"]
    assert two_jobs["states"] == ["queued", "running", "succeeded"]
    assert two_jobs["progress_seen"]
    assert (first / "model.keras").is_file() and runs.read_metrics(first)["test"]["n"] > 0
    assert tasks.wait(first, timeout=5) == "succeeded"
    log = runs.files(first).log.read_text().splitlines()  # TensorFlow's start-up noise moved
    assert log and not any(lognoise.is_startup_noise(line) for line in log)


@pytest.mark.slow
def test_queue_runs_second_job_after_the_first_finished(two_jobs: dict) -> None:
    first, second = runs.read_status(two_jobs["first"]), runs.read_status(two_jobs["second"])
    assert second["state"] == "succeeded"
    assert parse_time(second["started"]) >= parse_time(first["finished"])
    assert not two_jobs["both_running"]


@pytest.mark.slow
def test_two_workers_start_each_queued_job_exactly_once(two_jobs: dict) -> None:
    assert two_jobs["worker_codes"] == [0, 0]
    assert run_folder_lines(two_jobs["first"]) == 1
    assert run_folder_lines(two_jobs["second"]) == 1


# --- real processes: cancel, kill, app restart ---------------------------------------------------

@pytest.fixture(scope="module")
def cancel_and_crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A runs (long), B and C wait. B is cancelled while queued. While A trains, the Train
    page opens in a brand-new AppTest (the app restarted); A is cancelled and the same page
    follows it to the end. Then C trains and its process is killed with SIGKILL."""
    root = tmp_path_factory.mktemp("cancel")
    a = tasks.launch(long_tiny(), runs_root=root, preset="fast-cpu")
    b = tasks.launch(tiny(), runs_root=root, preset="fast-cpu")
    c = tasks.launch(long_tiny(), runs_root=root, preset="fast-cpu")
    facts: dict = {"a": a, "b": b, "c": c}
    try:
        tasks.cancel(b)
        facts["b_after_cancel"] = state_of(b)

        poll(a, has_step_progress)
        restarted = page(root).run()  # a fresh session, as after an app restart
        facts["page_while_running"] = shown_text(restarted)
        facts["page_exception"] = list(restarted.exception)
        facts["page_cancel_buttons"] = [button.key for button in restarted.button
                                        if button.key.startswith("train.cancel.")]
        tasks.cancel(a)
        facts["a_final"] = tasks.wait(a, timeout=JOB_TIMEOUT, poll_seconds=0.2)
        restarted.run()
        facts["page_after_end"] = shown_text(restarted)

        status = poll(c, has_step_progress)
        os.kill(int(status["pid"]), signal.SIGKILL)
        facts["c_final"] = tasks.wait(c, timeout=60, poll_seconds=0.2)
        yield facts
    finally:
        stop_all(root)


@pytest.mark.slow
def test_cancel_running_job_stops_cleanly_as_cancelled(cancel_and_crash: dict) -> None:
    a: Path = cancel_and_crash["a"]
    assert cancel_and_crash["a_final"] == "cancelled"
    info = runs.read_run(a)
    assert info.problem is None and info.metrics["cancelled"] is True
    assert (a / "model.keras").is_file()
    assert len(runs.read_history(a)) < long_tiny().epochs


@pytest.mark.slow
def test_cancel_job_still_starting_up_is_cancelled_not_failed(tmp_path: Path) -> None:
    """SIGTERM while TensorFlow imports, before training installed its signal handler."""
    run_dir = tasks.launch(long_tiny(), runs_root=tmp_path, preset="fast-cpu")
    try:
        poll(run_dir, lambda status: runs.effective_state(status) == "running")
        tasks.cancel(run_dir)
        assert tasks.wait(run_dir, timeout=60, poll_seconds=0.2) == "cancelled"
        assert runs.read_status(run_dir).get("error") is None
    finally:
        stop_all(tmp_path)


@pytest.mark.slow
def test_cancel_queued_job_never_runs(cancel_and_crash: dict) -> None:
    b: Path = cancel_and_crash["b"]
    assert cancel_and_crash["b_after_cancel"] == "cancelled"
    status = runs.read_status(b)
    assert status["state"] == "cancelled" and "started" not in status
    assert run_folder_lines(b) == 0


@pytest.mark.slow
def test_kill_of_training_process_marks_run_failed_and_keeps_log(cancel_and_crash: dict
                                                                 ) -> None:
    c: Path = cancel_and_crash["c"]
    assert cancel_and_crash["c_final"] == "failed"
    status = runs.read_status(c)
    assert runs.effective_state(status) == "failed" and "signal 9" in status["error"]
    assert run_folder_lines(c) == 1 and "Phase 1" in runs.read_log_tail(c)


@pytest.mark.slow
def test_restarted_train_page_shows_and_follows_running_job(cancel_and_crash: dict) -> None:
    a_id = cancel_and_crash["a"].name
    assert not cancel_and_crash["page_exception"]
    assert f"**{a_id}** · running" in cancel_and_crash["page_while_running"]
    assert f"train.cancel.{a_id}" in cancel_and_crash["page_cancel_buttons"]
    assert f"**{a_id}** · cancelled" in cancel_and_crash["page_after_end"]


# --- real processes: the command line ------------------------------------------------------------

@pytest.mark.slow
def test_cli_jobs_launch_list_cancel_wait(tmp_path: Path) -> None:
    tiny_set = ["--preset", "fast-cpu", "--set", "epochs=1", "--set", "subsample_per_class=60"]
    try:
        launched = cli("jobs", "launch", *tiny_set, "--json", root=tmp_path)
        assert launched.returncode == 0, launched.stderr
        first = json.loads(launched.stdout)["run_id"]
        second = json.loads(cli("jobs", "launch", *tiny_set, "--json", root=tmp_path).stdout
                            )["run_id"]

        cancelled = cli("jobs", "cancel", second, root=tmp_path)
        assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout

        listed = json.loads(cli("jobs", "list", "--json", root=tmp_path).stdout)
        states = {row["run_id"]: row["state"] for row in listed}
        assert states[second] == "cancelled" and states[first] in ("queued", "running")

        waited = cli("jobs", "wait", first, root=tmp_path)
        assert waited.returncode == 0 and "succeeded" in waited.stdout
        assert cli("jobs", "wait", second, root=tmp_path).returncode == 1
        assert cli("jobs", "cancel", "no-such-run", root=tmp_path).returncode == 2
    finally:
        stop_all(tmp_path)


def test_ray_run_not_yet_handed_to_ray_lists_from_its_folder(tmp_path: Path) -> None:
    """Between launch naming the backend and the submission recording Ray's address, a
    listing must not fail for want of an address: the folder says all there is."""
    run_dir = runs.create_run(tiny().to_dict(), run_dir=tmp_path / "r", backend="ray")
    assert tasks.refresh(run_dir) == "queued"
    assert tasks.log_tail(run_dir) == ""
