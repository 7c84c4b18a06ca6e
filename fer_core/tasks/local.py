"""The ``local`` job backend: this machine's queue, first in first out, in lanes.

A detached worker process per lane takes the lane's queued run and task folders in order: the
heavy lane's one at a time, the light and coordinator lanes' beside them at a lower priority
(``nice``) and on capped threads (``fer_core.tasks.kinds``). A file lock per lane makes sure
only one worker serves it, even when two app instances share the runs folder, so a job is
started once.
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
from fer_core.runs import lognoise, task_folders
from fer_core.tasks.kinds import HEAVY, LIGHT

LOCK_NAME = ".queue.lock"  # the heavy lane's, as it always was; the light lane adds its name
LIGHT_NICE = 10  # below training's priority
LIGHT_THREADS = "1"  # TensorFlow's and the BLAS libraries' threads for a light task
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS")
START_LOCK_NAME = ".start.lock"  # held for milliseconds: a job's start, or a cancel


class LocalBackend:
    name = "local"
    description = "this machine, one training at a time"

    def __init__(self, runs_root: Path | None = None) -> None:
        # Absolute: the worker runs in the package folder, where a relative path is another one
        self.runs_root = Path(runs_root or settings.runs_dir()).resolve()

    def submit(self, run_dir: Path) -> None:
        self.ensure_worker(lane_of(run_dir))

    def status(self, run_dir: Path) -> str:
        return runs.effective_state(runs.read_status(run_dir))

    def log_tail(self, run_dir: Path, lines: int = 40) -> str:
        return runs.read_log_tail(run_dir, lines=lines)

    def ensure_worker(self, lane: str = HEAVY) -> None:
        lock = FileLock(lock_path(self.runs_root, lane))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # a worker is serving this folder; it will see the new job
        lock.release()
        subprocess.Popen(
            [sys.executable, "-m", "fer_core", "jobs", "worker", "--runs-dir",
             str(self.runs_root), "--lane", lane],
            cwd=settings.PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, env=_job_env(self.runs_root),
        )

    def cancel(self, run_dir: Path) -> None:
        """Queued: cancelled at once. Running: SIGTERM, the job ends its step and stops. Under
        the start lock, so a cancel and the job's start never interleave; requested before the
        signal, so a job killed before its handler is in still ends cancelled."""
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


def lane_of(folder: Path) -> str:
    if not task_folders.is_task(folder):
        return HEAVY
    record = task_folders.read_task(folder)
    return record.lane or (HEAVY if record.heavy else LIGHT)


def heavy_job_running(runs_root: Path) -> bool:
    return any(runs.effective_state(runs.read_status(folder)) == "running"
               and lane_of(folder) == HEAVY for folder in task_folders.job_folders(runs_root))


def lock_path(runs_root: Path, lane: str) -> Path:
    return Path(runs_root) / (LOCK_NAME if lane == HEAVY else f".queue-{lane}.lock")


def queued_runs(runs_root: Path, lane: str = HEAVY) -> list[Path]:
    """Queued local run and task folders of the lane, oldest first: the order they run in."""
    queued = []
    for folder in task_folders.job_folders(runs_root):
        status = runs.read_status(folder)
        if (status.state == "queued" and status.backend.kind == LocalBackend.name
                and lane_of(folder) == lane):
            queued.append((status.queued or 0.0, folder.name, folder))
    return [path for _, _, path in sorted(queued)]


def run_worker(runs_root: Path, *, lane: str = HEAVY, poll_seconds: float = 0.5) -> int:
    """Serve the lane's queue until it is empty; return how many jobs ran. The queue is checked
    again after the lock is released: a job queued in that instant would wait for a launch."""
    runs_root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(runs_root, lane))
    ran = 0
    while True:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return ran
        try:
            while queue := queued_runs(runs_root, lane):
                run_job(queue[0])
                ran += 1
        finally:
            lock.release()
        if not queued_runs(runs_root, lane):
            return ran
        time.sleep(poll_seconds)


def command(folder: Path) -> list[str]:
    """The job's command line, the same on every backend."""
    if task_folders.is_task(folder):
        return ["-m", "fer_core", "jobs", "run", "--task-dir", str(folder)]
    return ["-m", "fer_core", "train", "--run-dir", str(folder)]


def run_job(run_dir: Path) -> int:
    """Run one job in a child process with its output in its log; record how it ended."""
    log_path = runs.files(run_dir).log
    light = lane_of(run_dir) != HEAVY
    env = {**_job_env(runs_root_of(run_dir)), settings.JOB_LOG: str(log_path)}
    if light:  # beside training: fewer threads, and the cores go to training first
        env.update(dict.fromkeys(THREAD_VARIABLES, LIGHT_THREADS))
    with _start_lock(run_dir):  # a cancel now either comes first or sees it running
        if runs.effective_state(runs.read_status(run_dir)) != "queued":
            return 0  # cancelled while waiting its turn
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, *command(run_dir)], cwd=settings.PROJECT_ROOT,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=(lambda: os.nice(LIGHT_NICE)) if light else None)
        attempt = runs.start(run_dir, pid=process.pid).resumed
    code = process.wait()
    lognoise.move_noise(log_path, runs.files(run_dir).debug_log)
    status = runs.read_status(run_dir)
    if not status.ended and status.resumed == attempt:  # not queued again since (retry)
        if status.cancel_requested:  # stopped by the signal before it could handle it
            runs.finish(run_dir, "cancelled")
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            runs.finish(run_dir, "failed", error=f"The job's process {how} before "
                        "finishing; see log.txt.")
    return code


def runs_root_of(folder: Path) -> Path:
    folder = Path(folder)
    return folder.parent.parent if folder.parent.name == task_folders.FOLDER else folder.parent


def _start_lock(run_dir: Path) -> FileLock:
    return FileLock(runs_root_of(run_dir) / START_LOCK_NAME, timeout=30)


def _job_env(runs_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FER_RUNS_DIR"] = str(Path(runs_root).resolve())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env
