"""The ``local`` job backend: one job at a time on this machine, first in first out.

Queued jobs are run folders whose status is ``queued``; a detached *worker* process takes them
in order. A file lock (the ``filelock`` library) makes sure only one worker serves a runs
folder, even when two app instances share it, so a queued job is started exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from fer_core import runs
from fer_core.core import settings
from fer_core.runs import lognoise

LOCK_NAME = ".queue.lock"
START_LOCK_NAME = ".start.lock"  # held for milliseconds: a job's start, or a cancel


class LocalBackend:
    """One job at a time on this machine, served by a detached worker process."""

    name = "local"
    description = "this machine, one at a time"

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
            cwd=settings.PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, env=_job_env(self.runs_root),
        )

    def cancel(self, run_dir: Path) -> None:
        """Queued: cancelled at once. Running: SIGTERM, the job ends its step and stops.

        Under the start lock, so a cancel and the job's start never interleave; requested
        before the signal, so a job killed before its handler is in still ends cancelled.
        """
        with _start_lock(run_dir):
            status = runs.read_status(run_dir)
            state = runs.effective_state(status)
            if state not in ("queued", "running"):
                return  # finished jobs have nothing to cancel
            runs.request_cancel(run_dir)
            if state == "queued":
                runs.finish(run_dir, "cancelled")
                return
            try:
                os.kill(int(status.pid or 0), signal.SIGTERM)  # stops after this step
            except (ProcessLookupError, ValueError):
                runs.finish(run_dir, "failed",
                            error="The job process was gone when it was cancelled.")


def queued_runs(runs_root: Path) -> list[Path]:
    """Queued local run folders, oldest first: the order they will run in."""
    queued = [(info.status.queued or 0.0, info.run_id, info.path)
              for info in runs.list_runs(runs_root)
              if info.state == "queued" and info.status.backend.kind == LocalBackend.name]
    return [path for _, _, path in sorted(queued)]


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
    """Run one job in a child process with its output in the run's log; record how it ended."""
    log_path = runs.files(run_dir).log
    with _start_lock(run_dir):  # a cancel now either comes first or sees it running
        if runs.effective_state(runs.read_status(run_dir)) != "queued":
            return 0  # cancelled while waiting its turn
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fer_core", "train", "--run-dir", str(run_dir)],
                cwd=settings.PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
                env={**_job_env(run_dir.parent), settings.JOB_LOG: str(log_path)},
            )
        runs.start(run_dir, pid=process.pid)
    code = process.wait()
    lognoise.move_noise(log_path, runs.files(run_dir).debug_log)
    status = runs.read_status(run_dir)
    if not status.ended:
        if status.cancel_requested:  # stopped by the signal before it could handle it
            runs.finish(run_dir, "cancelled")
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            runs.finish(run_dir, "failed", error=f"The training process {how} before "
                        "finishing; see log.txt.")
    return code


def _start_lock(run_dir: Path) -> FileLock:
    """One lock per runs folder for the instant a job starts or is cancelled."""
    return FileLock(Path(run_dir).parent / START_LOCK_NAME, timeout=30)


def _job_env(runs_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FER_RUNS_DIR"] = str(Path(runs_root).resolve())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env
