"""One task system for all long work: launch or submit, queue, follow, cancel, retry.

A task is a kind (``kinds.py``), a spec and a folder with one contract: ``status.json``, the
cancel marker, ``log.txt``. Training is :func:`launch` into a run folder; every other kind is
:func:`submit` into a task folder (``fer_core.runs.task_folders``). Each runs in its own
process, so it survives Streamlit reruns, closed tabs and app restarts; the web server only
reads folders. A task records its backend (``local`` or ``ray``) when it is queued, and every
later call gets it back from there (:func:`backend_of_run`), so it reaches the place running it.
"""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fer_core import runs
from fer_core.core import settings
from fer_core.core.access import ensure_writable
from fer_core.core.config import TrainConfig
from fer_core.core.errors import ConfigError, FerError, RunError
from fer_core.data import DataRef
from fer_core.runs import task_folders
from fer_core.runs.overrides import copy_into_run
from fer_core.tasks import runner
from fer_core.tasks.kinds import TRAIN, kind_of
from fer_core.tasks.local import LocalBackend, queued_runs, run_job, run_worker, runs_root_of
from fer_core.training.resume import is_resumable

__all__ = ["JobBackend", "LocalBackend", "backend_from_env", "backend_of_run", "cancel", "launch",
           "launch_sweep", "log_tail", "queued_runs", "refresh", "resume", "run_job", "run_worker",
           "sweep_configs", "wait"]
FOREGROUND = "foreground"  # a task a command runs in its own process, outside any queue


class JobBackend(Protocol):
    """What pages and the CLI need from a place that runs jobs; the rest is read from the folder.
    ``status`` records what only the backend knows (a job lost on a cluster)."""

    name: str
    description: str  # where jobs run, in a few words, for captions

    def submit(self, run_dir: Path) -> None: ...
    def cancel(self, run_dir: Path) -> None: ...
    def status(self, run_dir: Path) -> str: ...
    def log_tail(self, run_dir: Path, lines: int = 40) -> str: ...


def backend_from_env(name: str | None = None, *, address: str | None = None,
                     runs_root: Path | None = None, num_gpus: float | None = None
                     ) -> JobBackend:
    """The backend to launch on: the arguments, or else the environment (``FER_JOBS_BACKEND``,
    ``RAY_ADDRESS``, ``FER_RAY_GPUS``)."""
    chosen = (name or settings.jobs_backend()).strip().lower()
    if chosen == "local":
        return LocalBackend(runs_root)
    if chosen == "ray":
        from fer_core.tasks.ray import RayBackend

        gpus = settings.ray_gpus() if num_gpus is None else num_gpus
        return RayBackend(address or settings.ray_address(), num_gpus=gpus)
    raise ConfigError(f"Unknown jobs backend {chosen!r}: FER_JOBS_BACKEND must be one of "
                      f"{', '.join(settings.JOB_BACKENDS)}.")


def backend_of_run(run_dir: Path) -> JobBackend:
    """The backend that runs this run, from its stored reference (a Ray run before it is handed
    to Ray has no address yet, and nothing to ask Ray: its folder says all)."""
    ref = runs.read_status(run_dir).backend
    if ref.name == "ray" and ref.address:
        from fer_core.tasks.ray import RayBackend

        return RayBackend.from_ref(ref)
    return LocalBackend(runs_root_of(run_dir))


def launch(config: TrainConfig, *, runs_root: Path | None = None, preset: str | None = None,
           sweep: str | None = None, backend: JobBackend | None = None,
           record: dict[str, Any] | None = None, display_name: str | None = None) -> Path:
    """Create a queued run folder for ``config`` and hand it to the backend. ``record`` adds
    blocks to ``config.json`` (a study's arm); ``display_name`` names the run in Results."""
    ensure_writable("Launching a job")
    root = runs_root or settings.runs_dir()
    backend = backend or backend_from_env(runs_root=root)
    data = DataRef.parse(config.data)  # explicit from now on: FER_DATA_DIR may change
    config = config.replace(data=str(data))
    run_dir = runs.run_path(runs.new_run_id(preset or config.backbone, runs_root=root),
                            runs_root=root)
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": preset, **(record or {})},
                    queued=time.time(), preset=preset, sweep=sweep, backend=backend.name,
                    display_name=display_name)
    return _hand_over(backend, run_dir, before=lambda: copy_into_run(run_dir, data))


def submit(kind: str, spec: dict[str, Any], *, subject: str | None = None,
           inputs: dict[str, Path] | None = None, runs_root: Path | None = None,
           backend: JobBackend | None = None) -> Path:
    """Queue a task of ``kind`` with its ``spec`` and input files (copied into the task, so a
    Ray worker has them); return its folder."""
    if kind == TRAIN:
        raise RunError("Training is launched with its config (tasks.launch), not submitted.")
    root = Path(runs_root or settings.runs_dir())
    backend = backend or backend_from_env(runs_root=root)
    return _hand_over(backend, _new_task(kind, spec, subject, root, inputs=inputs,
                                         backend=backend.name))


def _hand_over(backend: JobBackend, folder: Path, *, before=lambda: None) -> Path:
    """Give a queued folder to its backend (after ``before``: the run's overrides, which a Ray
    node has no cache of); a refusal leaves it failed with the reason, and is raised."""
    try:
        before()
        backend.submit(folder)
    except FerError as err:
        runs.finish(folder, "failed", error=str(err))
        raise
    return folder


def run_here(kind: str, spec: dict[str, Any], *, subject: str | None = None,
             runs_root: Path | None = None) -> Path:
    """Run a task in this process (a command in the foreground), in a task folder like any
    other, so pages find its result; Cancel reaches it by its process id."""
    task_dir = _new_task(kind, spec, subject, Path(runs_root or settings.runs_dir()),
                         backend=FOREGROUND)
    runner.run_task(task_dir, log_stream=sys.stderr)  # stdout is the command's own
    return task_dir


def _new_task(kind: str, spec: dict[str, Any], subject: str | None, root: Path, *,
              inputs: dict[str, Path] | None = None, **status: Any) -> Path:
    what = kind_of(kind)
    ensure_writable(f"Starting a {what.label} task")
    return task_folders.create_task(
        task_folders.new_task_dir(kind, runs_root=root),
        task_folders.TaskRecord(kind, spec, what.entry, what.heavy, subject,
                                lane=what.lane if what.coordinator else ""), inputs=inputs,
        **status)


@dataclass(frozen=True)
class Job:
    path: Path
    kind: str
    state: str
    status: runs.Status
    subject: str | None = None


def list_tasks(runs_root: Path | None = None) -> list[Job]:
    """Every task that is not training, newest first, each with the state its backend knows."""
    return [_job(folder, task_folders.read_task(folder))
            for folder in task_folders.task_folders(runs_root)]


def list_jobs(runs_root: Path | None = None) -> list[Job]:
    """Every run and task, newest first (ids start with their time)."""
    trainings = [_job(folder, None) for folder in runs.run_folders(runs_root)]
    return sorted([*trainings, *list_tasks(runs_root)], key=lambda job: job.path.name,
                  reverse=True)


def _job(folder: Path, record: task_folders.TaskRecord | None) -> Job:
    status = runs.read_status(folder)
    state = refresh(folder) if status and not status.ended else runs.effective_state(status)
    return Job(folder, record.kind if record else TRAIN, state, runs.read_status(folder),
               record.subject if record else None)


def retry(task_dir: Path, *, backend: JobBackend | None = None) -> None:
    """Queue a failed or cancelled task again, with the same spec and inputs."""
    ensure_writable("Retrying a task")
    state = runs.effective_state(runs.read_status(task_dir))
    if not task_folders.is_task(task_dir) or state not in ("failed", "cancelled"):
        raise RunError(f"{Path(task_dir).name} cannot be retried: only a failed or cancelled "
                       f"task can (this one is {state}).")
    _requeue(task_dir, backend)


def _requeue(folder: Path, backend: JobBackend | None) -> None:
    backend = backend or backend_of_run(folder)
    runs.requeue(folder)
    backend.submit(folder)


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
    ensure_writable("Launching a sweep")
    configs = sweep_configs(base, grid)
    if not configs:
        raise RunError("A sweep needs at least one value for one hyperparameter.")
    name = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    return [launch(c, runs_root=runs_root, preset=preset, sweep=name, backend=backend)
            for c in configs]


def cancel(run_dir: Path) -> None:
    ensure_writable("Cancelling a job")
    backend_of_run(run_dir).cancel(run_dir)


def refresh(run_dir: Path) -> str:
    """The run's state after asking its backend, which records what only it knows; a viewer
    records nothing (its runs folder may not be writable), so it reads the folder only."""
    if settings.read_only():
        return runs.effective_state(runs.read_status(run_dir))
    return backend_of_run(run_dir).status(run_dir)


def log_tail(run_dir: Path, *, lines: int = 40) -> str:
    """The job's latest output, from wherever its backend keeps it while it runs."""
    return backend_of_run(run_dir).log_tail(run_dir, lines=lines)


def resume(run_dir: Path, *, backend: JobBackend | None = None) -> None:
    """Queue a failed run again; it continues from its last finished epoch."""
    ensure_writable("Resuming a job")
    state = runs.effective_state(runs.read_status(run_dir))
    if state != "failed" or not is_resumable(run_dir):
        raise RunError(f"Run {run_dir.name} cannot be resumed: only a failed run with a saved "
                       f"epoch can (this one is {state}). Launch a new run instead.")
    _requeue(run_dir, backend)


def wait(run_dir: Path, *, timeout: float | None = None, poll_seconds: float = 1.0) -> str:
    """Block until the job ends; return its final state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while (state := refresh(run_dir)) not in runs.FINAL_STATES:
        if deadline is not None and time.monotonic() > deadline:
            raise RunError(f"Run {run_dir.name} is still {state} after {timeout:.0f} s.")
        time.sleep(poll_seconds)
    return state
