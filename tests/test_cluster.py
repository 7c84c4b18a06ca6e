"""The ``ray`` job backend on a real Ray head, started by this module on 127.0.0.1.

The head (``ray start --head --block``, free ports, 2 CPUs, no GPU; ``bench.cluster``) lives
for the module and is ended in teardown by the process ids it started. Jobs are ``fast-cpu``
for 1 epoch on 60 demo images per class, so each is mostly TensorFlow's start-up. Scenarios
run once per module; several tests read what they recorded. Tests marked ``slow`` need the
head.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.cluster import free_ports, local_ray_head
from fer_core import runs, tasks
from fer_core.core.errors import ConfigError, RunError
from fer_core.runs import parse_time, task_folders
from fer_core.tasks.kinds import KINDS, register
from tests import job_support
from tests.job_support import has_step_progress, long_tiny, tiny

ray_backend = pytest.importorskip("fer_core.tasks.ray")
pytest.importorskip("ray.job_submission", reason="ray[default] is not installed")

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PAGE = str(ROOT / "app_pages" / "train.py")
JOB_TIMEOUT = 180  # seconds; a tiny job takes ~20 s, most of it TensorFlow's import


def poll(run_dir: Path, until: Callable[[dict], bool], *, timeout: float = JOB_TIMEOUT) -> dict:
    return job_support.poll(run_dir, until, timeout=timeout, interval=0.2)


def page(root: Path, **session: object) -> AppTest:
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(root)
    for key, value in session.items():
        at.session_state[key] = value
    return at


def shown_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [p.proto.text for p in at.progress]
    parts += [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(parts)


def cli(*args: str, root: Path, address: str | None = None, timeout: float = JOB_TIMEOUT
        ) -> subprocess.CompletedProcess:
    env = {**os.environ, "FER_RUNS_DIR": str(root)}
    if address:
        env.update(FER_JOBS_BACKEND="ray", RAY_ADDRESS=address)
    return subprocess.run([sys.executable, "-m", "fer_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def ray_status(address: str, run_dir: Path) -> str:
    job_id = runs.read_status(run_dir)["ray_job_id"]
    return ray_backend.client(address).get_job_status(job_id).value


def ray_final_status(address: str, run_dir: Path, *, timeout: float = 60) -> str:
    """Ray's last word on the job: it comes once the process exited, just after the run
    folder recorded its end."""
    deadline = time.monotonic() + timeout
    while (state := ray_status(address, run_dir)) not in ray_backend.RAY_FINAL:
        if time.monotonic() > deadline:
            return state
        time.sleep(0.2)
    return state


# --- the head ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1 (2 CPUs, no GPU); yields its job API address."""
    with local_ray_head(num_cpus=2) as address:
        yield address


@pytest.fixture(scope="module")
def demo_ready() -> None:
    """The demo data set exists before jobs start at once (they would all generate it)."""
    from fer_core.data import load_dataset

    load_dataset(None)


# --- without a cluster ---------------------------------------------------------------------------

def test_job_working_dir_ships_every_source_file() -> None:
    """Ray's own matcher over the job's excludes: no module of the code may be left behind."""
    from ray._private.runtime_env.packaging import _get_excludes

    env = ray_backend.runtime_env(Path("runs"))
    root = Path(env["working_dir"])
    excluded = _get_excludes(root, env["excludes"])
    sources = [p for p in root.glob("*/**/*.py") if ".venv" not in p.parts]
    assert sources and not [p for p in sources if excluded(p)]
    assert excluded(root / "runs" / "x" / "model.keras") and excluded(root / ".venv")


def test_job_api_address_adds_http_and_refuses_other_schemes() -> None:
    assert ray_backend.job_api_address("head:8265") == "http://head:8265"
    assert ray_backend.job_api_address(" http://head:8265/ ") == "http://head:8265"
    with pytest.raises(ConfigError, match="dashboard"):
        ray_backend.job_api_address("ray://head:10001")
    with pytest.raises(ConfigError, match="RAY_ADDRESS"):
        ray_backend.job_api_address("")


def test_backend_from_env_defaults_to_local_and_reads_ray_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FER_JOBS_BACKEND", raising=False)
    assert tasks.backend_from_env(runs_root=tmp_path).name == "local"
    monkeypatch.setenv("FER_JOBS_BACKEND", "ray")
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    monkeypatch.setenv("FER_RAY_GPUS", "1")
    backend = tasks.backend_from_env(runs_root=tmp_path)
    assert (backend.name, backend.address, backend.num_gpus) == ("ray", "http://head:8265", 1)
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(ConfigError, match="RAY_ADDRESS"):
        tasks.backend_from_env(runs_root=tmp_path)
    with pytest.raises(ConfigError, match="local, ray"):
        tasks.backend_from_env("slurm", runs_root=tmp_path)


def test_runtime_env_ships_the_code_and_points_the_job_at_the_shared_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "fer2013"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////shared/mlflow.db")
    env = ray_backend.runtime_env(tmp_path / "runs")
    assert env["working_dir"] == str(ROOT)
    assert {"/.venv", "/runs", "/.git", "*.keras"} <= set(env["excludes"])
    assert env["env_vars"]["FER_RUNS_DIR"] == str((tmp_path / "runs").resolve())
    assert env["env_vars"]["FER_DATA_DIR"] == str(tmp_path / "fer2013")
    assert env["env_vars"]["MLFLOW_TRACKING_URI"] == "sqlite:////shared/mlflow.db"
    assert int(env["env_vars"]["RAY_JOB_STOP_WAIT_TIME_S"]) > 3  # room to stop gracefully


def test_ray_entrypoint_is_the_local_job_command() -> None:
    run_dir = Path("/shared/runs/20260101-000000-fast cpu")
    assert ray_backend.entrypoint(run_dir) == (
        "python -m fer_core train --run-dir '/shared/runs/20260101-000000-fast cpu'")


def test_launch_to_unreachable_cluster_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    port = free_ports(1)[0]  # nothing listens there
    backend = ray_backend.RayBackend(f"http://127.0.0.1:{port}")
    with pytest.raises(RunError, match="Could not reach the Ray job API"):
        tasks.launch(tiny(), runs_root=tmp_path, backend=backend)
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    status = runs.read_status(run_dir)
    assert status["state"] == "failed" and "ray start --head" in status["error"]
    assert status["backend"] == "ray" and status["ray_job_id"] == run_dir.name


def test_sidebar_ray_choice_sets_backend_address_and_gpus() -> None:
    def script() -> None:
        from ui.sidebar import render_sidebar

        render_sidebar()

    at = AppTest.from_function(script, default_timeout=60).run()
    assert at.session_state["app.jobs_backend"] == "local"
    at.sidebar.radio(key="sidebar.jobs_backend").set_value("ray").run()
    assert at.sidebar.warning  # no address yet
    at.sidebar.text_input(key="sidebar.ray_address").input("http://head:8265").run()
    at.sidebar.number_input(key="sidebar.ray_gpus").set_value(1).run()
    assert not at.exception
    assert at.session_state["app.jobs_backend"] == "ray"
    assert at.session_state["app.ray_address"] == "http://head:8265"
    assert at.session_state["app.ray_gpus"] == 1


# --- on the Ray head: one job from the command line ----------------------------------------------

@pytest.fixture(scope="module")
def cli_job(ray_head: str, demo_ready: None, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict]:
    """``jobs launch`` with FER_JOBS_BACKEND=ray, followed in its folder, then ``jobs wait``."""
    root = tmp_path_factory.mktemp("ray-runs")
    facts: dict = {"root": root, "states": [], "progress_seen": False}
    launched = cli("jobs", "launch", "--preset", "fast-cpu", "--set", "epochs=1", "--set",
                   "subsample_per_class=60", "--json", root=root, address=ray_head)
    assert launched.returncode == 0, launched.stderr
    run_dir = root / json.loads(launched.stdout)["run_id"]
    facts["run_dir"] = run_dir
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        status = runs.read_status(run_dir)
        state = runs.effective_state(status)
        if not facts["states"] or facts["states"][-1] != state:
            facts["states"].append(state)
        facts["progress_seen"] |= state == "running" and bool(status.get("progress"))
        if state in runs.FINAL_STATES:
            break
        time.sleep(0.1)
    facts["wait"] = cli("jobs", "wait", run_dir.name, root=root)
    facts["list"] = cli("jobs", "list", "--json", root=root)
    facts["ray_status"] = ray_final_status(ray_head, run_dir)
    facts["page"] = shown_text(page(root).run())
    try:
        yield facts
    finally:
        if runs.read_status(run_dir).get("state") not in runs.FINAL_STATES:
            tasks.cancel(run_dir)


@pytest.mark.slow
def test_ray_job_goes_queued_running_succeeded_with_progress_in_its_folder(cli_job: dict
                                                                           ) -> None:
    run_dir: Path = cli_job["run_dir"]
    assert cli_job["states"][-1] == "succeeded" and "running" in cli_job["states"]
    assert cli_job["progress_seen"]
    assert len(runs.read_history(run_dir)) == 1
    assert runs.read_metrics(run_dir)["test"]["n"] > 0 and (run_dir / "model.keras").is_file()
    assert cli_job["ray_status"] == "SUCCEEDED"


@pytest.mark.slow
def test_ray_run_folder_records_backend_node_and_job_id(cli_job: dict) -> None:
    status = runs.read_status(cli_job["run_dir"])
    assert status["backend"] == "ray" and status["ray_job_id"] == cli_job["run_dir"].name
    assert status["host"] == socket.gethostname()
    assert status["ray_address"].startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_cli_jobs_wait_and_list_follow_a_ray_job(cli_job: dict) -> None:
    assert cli_job["wait"].returncode == 0 and "succeeded" in cli_job["wait"].stdout
    [row] = json.loads(cli_job["list"].stdout)
    assert (row["run_id"], row["state"], row["backend"]) == (
        cli_job["run_dir"].name, "succeeded", "ray")


@pytest.mark.slow
def test_train_page_lists_the_succeeded_ray_job(cli_job: dict) -> None:
    assert f"**{cli_job['run_dir'].name}** · succeeded" in cli_job["page"]


# --- on the Ray head: cancel ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def cancelled_job(ray_head: str, demo_ready: None, cli_job: dict,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A long job, cancelled from the command line once it trains."""
    root = tmp_path_factory.mktemp("ray-cancel")
    run_dir = tasks.launch(long_tiny(), runs_root=root, preset="fast-cpu",
                          backend=ray_backend.RayBackend(ray_head))
    facts: dict = {"root": root, "run_dir": run_dir}
    try:
        poll(run_dir, has_step_progress)
        facts["cancel"] = cli("jobs", "cancel", run_dir.name, root=root)
        facts["final"] = tasks.wait(run_dir, timeout=JOB_TIMEOUT, poll_seconds=0.5)
        facts["ray_status"] = ray_final_status(ray_head, run_dir)
        facts["page"] = shown_text(page(root).run())
        yield facts
    finally:
        if runs.read_status(run_dir).get("state") not in runs.FINAL_STATES:
            tasks.cancel(run_dir)


@pytest.mark.slow
def test_cancel_of_running_ray_job_stops_it_cleanly_as_cancelled(cancelled_job: dict) -> None:
    run_dir: Path = cancelled_job["run_dir"]
    assert cancelled_job["cancel"].returncode == 0, cancelled_job["cancel"].stderr
    assert cancelled_job["final"] == "cancelled" and cancelled_job["ray_status"] == "STOPPED"
    info = runs.read_run(run_dir)
    assert info.metrics["cancelled"] is True and (run_dir / "model.keras").is_file()
    assert len(runs.read_history(run_dir)) < long_tiny().epochs
    assert f"**{run_dir.name}** · cancelled" in cancelled_job["page"]


# --- on the Ray head: a sweep in parallel --------------------------------------------------------

@pytest.fixture(scope="module")
def sweep(ray_head: str, demo_ready: None, cancelled_job: dict,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("ray-sweep")
    backend = ray_backend.RayBackend(ray_head)
    run_dirs = tasks.launch_sweep(tiny(), {"batch_size": [16, 32]}, preset="fast-cpu",
                                 runs_root=root, backend=backend)
    facts: dict = {"run_dirs": run_dirs}
    try:
        facts["accepted"] = [ray_status(ray_head, d) for d in run_dirs]
        facts["finals"] = [tasks.wait(d, timeout=JOB_TIMEOUT, poll_seconds=0.5)
                           for d in run_dirs]
        yield facts
    finally:
        for run_dir in run_dirs:
            if runs.read_status(run_dir).get("state") not in runs.FINAL_STATES:
                tasks.cancel(run_dir)


@pytest.mark.slow
def test_sweep_on_ray_accepts_both_jobs_and_both_finish(sweep: dict) -> None:
    assert set(sweep["accepted"]) <= {"PENDING", "RUNNING"}
    assert sweep["finals"] == ["succeeded", "succeeded"]
    sizes = [runs.read_config(d)["config"]["batch_size"] for d in sweep["run_dirs"]]
    assert sorted(sizes) == [16, 32]


@pytest.mark.slow
def test_sweep_on_ray_runs_its_jobs_at_the_same_time(sweep: dict) -> None:
    first, second = (runs.read_status(d) for d in sweep["run_dirs"])
    assert parse_time(second["started"]) < parse_time(first["finished"])
    assert parse_time(first["started"]) < parse_time(second["finished"])


# --- on the Ray head: what only Ray knows --------------------------------------------------------

@pytest.mark.slow
def test_ray_job_failing_before_training_shows_failed_with_rays_log(
        ray_head: str, tmp_path: Path) -> None:
    run_dir = runs.create_run(tiny().to_dict(), run_dir=tmp_path / "20260101-000000-broken")
    (run_dir / "config.json").write_text("{not json")  # the job exits at once with an error
    ray_backend.RayBackend(ray_head).submit(run_dir)
    assert tasks.wait(run_dir, timeout=JOB_TIMEOUT, poll_seconds=0.5) == "failed"
    status = runs.read_status(run_dir)
    assert "Ray job 20260101-000000-broken failed" in status["error"]
    assert status["ray_status"] == "FAILED"
    log = (run_dir / "log.txt").read_text()
    assert "Ray job log" in log and "config.json is missing or damaged" in log


@pytest.mark.slow
def test_train_page_launches_on_ray_and_cancels_a_job_waiting_for_a_gpu(
        ray_head: str, tmp_path: Path) -> None:
    """The cluster has no GPU, so a job asking for one waits in Ray's queue: cancelled there."""
    at = page(tmp_path, **{"app.jobs_backend": "ray", "app.ray_address": ray_head,
                           "app.ray_gpus": 1}).run()
    at.button(key="train.launch").click().run()
    assert not at.exception and not at.error
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    status = runs.read_status(run_dir)
    assert (status["backend"], status["ray_gpus"], status["state"]) == ("ray", 1, "queued")
    assert ray_status(ray_head, run_dir) == "PENDING"
    assert f"**{run_dir.name}** · queued" in shown_text(at)

    at.button(key=f"train.cancel.{run_dir.name}").click().run()
    assert runs.read_status(run_dir)["state"] == "cancelled"
    assert f"**{run_dir.name}** · cancelled" in shown_text(at)


# --- every task kind on the cluster --------------------------------------------------------------

@pytest.mark.slow
def test_registered_kind_runs_on_ray_with_progress_and_cancel(ray_head: str,
                                                              tmp_path: Path) -> None:
    """A kind the backends never heard of (``tests/dummy_task.py``) runs there unchanged."""
    from tests import dummy_task
    from tests.test_tasks import running_with_progress

    register(dummy_task.LIGHT)
    try:
        backend = ray_backend.RayBackend(ray_head)
        done = tasks.submit("dummy", {"steps": 3}, runs_root=tmp_path, backend=backend)
        stopped = tasks.submit("dummy", {"steps": 900, "seconds": 0.1}, runs_root=tmp_path,
                               backend=backend)
        assert tasks.wait(done, timeout=JOB_TIMEOUT) == "succeeded"
        assert task_folders.read_result(done)["steps"] == 3
        assert runs.read_status(done).backend.job_id == done.name
        poll(stopped, running_with_progress)
        tasks.cancel(stopped)
        assert tasks.wait(stopped, timeout=JOB_TIMEOUT) == "cancelled"
    finally:
        KINDS.pop(dummy_task.LIGHT.name)


@pytest.mark.slow
def test_every_kind_runs_on_ray(ray_head: str, tmp_path: Path, demo_run: Path) -> None:
    """Export, video (its clip travels in the task folder), estimate (timed on the worker) and
    the suspects pass, each a Ray job; training has the tests above."""
    from tests.test_tasks import check_every_kind, submit_every_kind, task_inputs

    submitted = submit_every_kind(**task_inputs(tmp_path, demo_run),
                                  backend=ray_backend.RayBackend(ray_head))
    check_every_kind(submitted)
    assert all(runs.read_status(t).backend.kind == "ray" for t in submitted.values())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["export", "video", "estimate", "suspects"])
def test_every_kind_can_be_cancelled_on_ray(ray_head: str, tmp_path: Path, demo_run: Path,
                                           kind: str) -> None:
    from tests.test_tasks import cancel_while_it_runs, submit_every_kind, task_inputs

    submitted = submit_every_kind(**task_inputs(tmp_path, demo_run),
                                  backend=ray_backend.RayBackend(ray_head))
    assert cancel_while_it_runs(submitted, kind) == "cancelled"


@pytest.mark.slow
def test_search_on_ray_runs_its_trials_at_the_same_time(ray_head: str, demo_ready: None,
                                                        tmp_path: Path) -> None:
    """The search is a Ray job that reserves no CPU; its two trials are Ray jobs of their
    own, on the head's two CPUs at once. The same search runs on the local queue unchanged
    (tests/test_search.py)."""
    from fer_core.core.search_space import SearchPlan, parse_dimension
    from fer_core.runs import searches

    planned = SearchPlan(base=tiny().to_dict(), dimensions=(parse_dimension("dropout=0.2:0.6"),),
                         trials=2, parallel=2)
    task_dir = tasks.submit(searches.KIND, searches.spec(planned), runs_root=tmp_path,
                            backend=ray_backend.RayBackend(ray_head))
    assert tasks.wait(task_dir, timeout=2 * JOB_TIMEOUT, poll_seconds=0.5) == "succeeded", (
        runs.read_log_tail(task_dir))
    summary = searches.read_summary(task_dir)
    assert [t["state"] for t in summary["trials"]] == ["complete", "complete"]
    first, second = (runs.read_status(tmp_path / t["run"]) for t in summary["trials"])
    assert first.backend.kind == second.backend.kind == "ray"
    assert parse_time(second["started"]) < parse_time(first["finished"])
    assert parse_time(first["started"]) < parse_time(second["finished"])
