"""Background training jobs: launch, queue, cancel, and notice crashes.

A job is ``python -m fer_core train --run-dir runs/<id>`` in its own process, so it survives
Streamlit reruns, closed tabs and app restarts. The app only reads run folders.

Two backends sit behind one small interface (:class:`JobBackend`: submit, status, log tail,
cancel), chosen by ``FER_JOBS_BACKEND`` (``local``, the default, or ``ray`` with
``RAY_ADDRESS``), by ``--backend`` or in the sidebar; a run records which one runs it, so
cancel, status and logs always go to the right place (:func:`backend_of_run`).

The ``local`` backend runs one job at a time on this machine, first in first out. Queued jobs
are run folders whose status is ``queued``; a detached *worker* process takes them in order.
A file lock (the ``filelock`` library) makes sure only one worker serves a runs folder, even
when two app instances share it, so a queued job is started exactly once.

The ``ray`` backend (``fer_core.ray_backend``) submits each run as a Ray job; Ray queues and
places them, so a sweep runs in parallel.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from fer_core import runs, settings
from fer_core.config import TrainConfig
from fer_core.errors import ConfigError, FerError, RunError

PACKAGE_ROOT = settings.PROJECT_ROOT
BACKENDS = ("local", "ray")
LOCK_NAME = ".queue.lock"
START_LOCK_NAME = ".start.lock"  # held for milliseconds: a job's start, or a cancel


class JobBackend(Protocol):
    """What the pages and the CLI need from a place that runs jobs.

    ``submit`` starts (or queues) the run folder's job, ``status`` is its state after asking
    the backend, ``log_tail`` its latest output, ``cancel`` stops it. Everything else (progress,
    metrics, the model) is read from the run folder, whichever backend ran it.
    """

    name: str

    def submit(self, run_dir: Path) -> None: ...

    def cancel(self, run_dir: Path) -> None: ...

    def status(self, run_dir: Path) -> str: ...

    def log_tail(self, run_dir: Path, lines: int = 40) -> str: ...


def backend_from_env(name: str | None = None, *, address: str | None = None,
                     runs_root: Path | None = None, num_gpus: float | None = None
                     ) -> JobBackend:
    """The backend to launch on: ``name`` or ``FER_JOBS_BACKEND`` (default ``local``).

    ``ray`` needs the cluster's job API address: ``address`` or ``RAY_ADDRESS``; GPUs per job
    come from ``num_gpus`` or ``FER_RAY_GPUS`` (default 0: 1 on a GPU cluster).
    """
    chosen = (name or os.environ.get("FER_JOBS_BACKEND") or "local").strip().lower()
    if chosen == "local":
        return LocalBackend(runs_root)
    if chosen == "ray":
        from fer_core.jobs.ray import RayBackend

        if num_gpus is None:
            num_gpus = _number_from_env("FER_RAY_GPUS", 0.0)
        return RayBackend(address or os.environ.get("RAY_ADDRESS"), num_gpus=num_gpus)
    raise ConfigError(f"Unknown jobs backend {chosen!r}: FER_JOBS_BACKEND must be one of "
                      f"{', '.join(BACKENDS)}.")


def backend_of_run(run_dir: Path) -> JobBackend:
    """The backend that runs (or ran) this run folder, as its status records it."""
    status = runs.read_status(run_dir)
    if status.get("backend") == "ray":
        from fer_core.jobs.ray import RayBackend

        return RayBackend(status.get("ray_address"), num_gpus=status.get("ray_gpus") or 0,
                          num_cpus=status.get("ray_cpus") or 1)
    return LocalBackend(run_dir.parent)


def launch(
    config: TrainConfig,
    *,
    runs_root: Path | None = None,
    preset: str | None = None,
    sweep: str | None = None,
    backend: JobBackend | None = None,
) -> Path:
    """Create a queued run folder for ``config`` and hand it to the backend.

    The default backend is the configured one (:func:`backend_from_env`). A backend that
    refuses the job (a Ray cluster out of reach) leaves the run failed with its reason.
    """
    root = runs_root or settings.runs_dir()
    backend = backend or backend_from_env(runs_root=root)
    config = _with_absolute_data(config)
    run_dir = runs.run_path(runs.new_run_id(preset or config.backbone, runs_root=root),
                            runs_root=root)
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": preset})
    runs.write_status(run_dir, queued=time.time(), preset=preset, sweep=sweep,
                      backend=backend.name)
    try:
        backend.submit(run_dir)
    except FerError as err:
        runs.write_status(run_dir, state="failed", finished=runs.now_iso(), error=str(err))
        raise
    return run_dir


def _with_absolute_data(config: TrainConfig) -> TrainConfig:
    """A relative data path means the launcher's folder; a job runs elsewhere (the package
    folder, or a Ray node's copy of it), so it gets the absolute path."""
    if not config.data:
        return config
    path = Path(config.data).expanduser()
    if path.is_absolute() or not path.exists():
        return config
    return config.replace(data=str(path.resolve()))


def sweep_configs(base: TrainConfig, grid: dict[str, list[Any]]) -> list[TrainConfig]:
    """One config per combination of the listed values (e.g. batch sizes 16, 32, 64)."""
    keys = [k for k, values in grid.items() if values]
    if not keys:  # product() of nothing is one empty combination: the base config alone
        return []
    combos = itertools.product(*(grid[k] for k in keys))
    return [base.replace(**dict(zip(keys, combo, strict=True))) for combo in combos]


def launch_sweep(base: TrainConfig, grid: dict[str, list[Any]], *, preset: str | None = None,
                 runs_root: Path | None = None, backend: JobBackend | None = None) -> list[Path]:
    """Launch every combination as its own job, grouped under one sweep name."""
    configs = sweep_configs(base, grid)
    if not configs:
        raise RunError("A sweep needs at least one value for one hyperparameter.")
    name = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    return [launch(c, runs_root=runs_root, preset=preset, sweep=name, backend=backend)
            for c in configs]


def cancel(run_dir: Path, *, backend: JobBackend | None = None) -> None:
    """Cancel through the backend that runs the job (``backend`` when it is that kind)."""
    name = runs.read_status(run_dir).get("backend", "local")
    if backend is None or backend.name != name:
        backend = backend_of_run(run_dir)
    backend.cancel(run_dir)


def refresh(run_dir: Path) -> str:
    """The run's state after asking its backend, which records what only it knows.

    A local job's crash shows in its folder (a dead pid); a Ray job that failed or was stopped
    before writing its end is known only to Ray, so its folder is brought up to date here.
    """
    status = runs.read_status(run_dir)
    if status.get("backend") == "ray" and status.get("state") not in runs.FINAL_STATES:
        from fer_core.jobs.ray import sync_status

        status = sync_status(run_dir)
    return runs.effective_state(status)


def log_tail(run_dir: Path, *, lines: int = 40) -> str:
    """The job's latest output: ``log.txt``, or Ray's live log while a Ray job is active."""
    status = runs.read_status(run_dir)
    if status.get("backend") == "ray" and status.get("state") not in runs.FINAL_STATES:
        from fer_core.jobs.ray import log_tail as ray_log_tail

        return ray_log_tail(run_dir, lines=lines)
    return runs.read_log_tail(run_dir, lines=lines)


def resume(run_dir: Path, *, backend: JobBackend | None = None) -> None:
    """Queue a failed run again; it continues from its last finished epoch."""
    from fer_core.training.resume import is_resumable

    state = runs.effective_state(runs.read_status(run_dir))
    if state != "failed" or not is_resumable(run_dir):
        raise RunError(
            f"Run {run_dir.name} cannot be resumed: only a failed run with a saved epoch can "
            f"(this one is {state}). Launch a new run instead."
        )
    backend = backend or backend_of_run(run_dir)
    runs.write_status(run_dir, state="queued", queued=time.time(), error=None, pid=None,
                      cancel_requested=None,  # a stale request would stop the new attempt
                      resumed=runs.read_status(run_dir).get("resumed", 0) + 1)
    backend.submit(run_dir)


def queued_runs(runs_root: Path) -> list[Path]:
    """Queued run folders, oldest first: the order they will run in."""
    queued = []
    for info in runs.list_runs(runs_root):
        if info.state == "queued" and info.status.get("backend", "local") == "local":
            queued.append((info.status.get("queued", 0.0), info.run_id, info.path))
    return [path for _, _, path in sorted(queued)]


class LocalBackend:
    """One job at a time on this machine, served by a detached worker process."""

    name = "local"

    def __init__(self, runs_root: Path | None = None) -> None:
        # Absolute: the worker runs in the package folder, where a relative path means
        # another folder than the app's.
        self.runs_root = Path(runs_root or settings.runs_dir()).resolve()

    def submit(self, run_dir: Path) -> None:
        self.ensure_worker()

    def status(self, run_dir: Path) -> str:
        return runs.effective_state(runs.read_status(run_dir))

    def log_tail(self, run_dir: Path, lines: int = 40) -> str:
        return runs.read_log_tail(run_dir, lines=lines)

    def ensure_worker(self) -> None:
        """Start a worker unless one already holds the queue lock."""
        lock = FileLock(self.runs_root / LOCK_NAME)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # a worker is serving this folder; it will see the new job
        lock.release()
        subprocess.Popen(
            [sys.executable, "-m", "fer_core", "jobs", "worker", "--runs-dir",
             str(self.runs_root)],
            cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, env=_job_env(self.runs_root),
        )

    def cancel(self, run_dir: Path) -> None:
        """Queued: cancelled at once. Running: SIGTERM, the job ends its step and stops.

        Holds the start lock, so a cancel and the worker starting the same job never
        interleave their status updates (either would silently undo the other).
        ``cancel_requested`` is recorded before the signal, so a job killed by it before its
        handler is installed (TensorFlow still importing) is recorded as cancelled, not failed.
        """
        with _start_lock(run_dir):
            status = runs.read_status(run_dir)
            state = runs.effective_state(status)
            if state == "queued":
                runs.write_status(run_dir, state="cancelled", cancel_requested=runs.now_iso(),
                                  finished=runs.now_iso())
            elif state == "running":
                runs.write_status(run_dir, cancel_requested=runs.now_iso())
                try:
                    os.kill(int(status["pid"]), signal.SIGTERM)  # stops after this step
                except (ProcessLookupError, KeyError, TypeError, ValueError):
                    runs.write_status(run_dir, state="failed", finished=runs.now_iso(),
                                      error="The job process was gone when it was cancelled.")
            # finished jobs have nothing to cancel


def run_worker(runs_root: Path, *, poll_seconds: float = 0.5) -> int:
    """Serve the queue until it is empty; return how many jobs ran.

    Re-checks the queue after releasing the lock: a job queued in the instant between the
    last look and the release would otherwise wait for the next launch.
    """
    runs_root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(runs_root / LOCK_NAME)
    ran = 0
    while True:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return ran
        try:
            while queue := queued_runs(runs_root):
                run_job(queue[0])
                ran += 1
        finally:
            lock.release()
        if not queued_runs(runs_root):
            return ran
        time.sleep(poll_seconds)


def run_job(run_dir: Path) -> int:
    """Run one job in a child process with its output in ``log.txt``; record how it ended."""
    log_path = run_dir / "log.txt"
    with _start_lock(run_dir):  # a cancel now either comes first or sees it running
        if runs.effective_state(runs.read_status(run_dir)) != "queued":
            return 0  # cancelled while waiting its turn
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fer_core", "train", "--run-dir", str(run_dir)],
                cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
                env={**_job_env(run_dir.parent), "FER_JOB_LOG": str(log_path)},
            )
        runs.write_status(run_dir, state="running", started=runs.now_iso(), pid=process.pid,
                          host=_hostname())
    code = process.wait()
    status = runs.read_status(run_dir)
    if status.get("state") not in runs.FINAL_STATES:
        if status.get("cancel_requested"):  # stopped by the signal before it could handle it
            runs.write_status(run_dir, state="cancelled", finished=runs.now_iso())
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            runs.write_status(run_dir, state="failed", finished=runs.now_iso(),
                              error=f"The training process {how} before finishing; see "
                              "log.txt.")
    return code


def wait(run_dir: Path, *, timeout: float | None = None, poll_seconds: float = 1.0) -> str:
    """Block until the job ends; return its final state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = refresh(run_dir)
        if state in runs.FINAL_STATES:
            return state
        if deadline is not None and time.monotonic() > deadline:
            raise RunError(f"Run {run_dir.name} is still {state} after {timeout:.0f} s.")
        time.sleep(poll_seconds)


def _start_lock(run_dir: Path) -> FileLock:
    """One lock per runs folder for the instant a job starts or is cancelled."""
    return FileLock(Path(run_dir).parent / START_LOCK_NAME, timeout=30)


def _job_env(runs_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FER_RUNS_DIR"] = str(Path(runs_root).resolve())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                      env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _number_from_env(key: str, default: float) -> float:
    text = os.environ.get(key, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number such as 1; got {text!r}.") from None
    return int(value) if value.is_integer() else value


def _hostname() -> str:
    import socket

    return socket.gethostname()
