"""Background training jobs: launch, queue, cancel, resume, and notice crashes.

A job is ``python -m fer_core train --run-dir runs/<id>`` in its own process, so it survives
Streamlit reruns, closed tabs and app restarts. Two backends implement :class:`JobBackend`:
``local`` (one job at a time on this machine) and ``ray`` (each run a Ray job). A run records
its backend reference at launch, and every later call (status, logs, cancel, refresh) gets the
backend back from it (:func:`backend_of_run`), so it always reaches the place that runs the job.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Protocol

from fer_core import runs
from fer_core.core import settings
from fer_core.core.access import ensure_writable
from fer_core.core.config import TrainConfig
from fer_core.core.errors import ConfigError, FerError, RunError
from fer_core.data import DataRef
from fer_core.runs.overrides import copy_into_run
from fer_core.tasks.local import LocalBackend, queued_runs, run_job, run_worker
from fer_core.training.resume import is_resumable

__all__ = ["BACKENDS", "JobBackend", "LocalBackend", "backend_from_env", "backend_of_run",
           "cancel", "launch", "launch_sweep", "log_tail", "queued_runs", "refresh", "resume",
           "run_job", "run_worker", "sweep_configs", "wait"]
BACKENDS = settings.JOB_BACKENDS


class JobBackend(Protocol):
    """What the pages and the CLI need from a place that runs jobs; everything else
    (progress, metrics, the model) is read from the run folder, whichever backend ran it.
    ``status`` asks the backend and records what only it knows (a job lost on a cluster)."""

    name: str
    description: str  # where jobs run, in a few words, for captions

    def submit(self, run_dir: Path) -> None: ...

    def cancel(self, run_dir: Path) -> None: ...

    def status(self, run_dir: Path) -> str: ...

    def log_tail(self, run_dir: Path, lines: int = 40) -> str: ...


def backend_from_env(name: str | None = None, *, address: str | None = None,
                     runs_root: Path | None = None, num_gpus: float | None = None
                     ) -> JobBackend:
    """The backend to launch on: ``name`` or ``FER_JOBS_BACKEND``; Ray's address and GPUs per
    job from the arguments or ``RAY_ADDRESS`` and ``FER_RAY_GPUS``."""
    chosen = (name or settings.jobs_backend()).strip().lower()
    if chosen == "local":
        return LocalBackend(runs_root)
    if chosen == "ray":
        from fer_core.tasks.ray import RayBackend

        gpus = settings.ray_gpus() if num_gpus is None else num_gpus
        return RayBackend(address or settings.ray_address(), num_gpus=gpus)
    raise ConfigError(f"Unknown jobs backend {chosen!r}: FER_JOBS_BACKEND must be one of "
                      f"{', '.join(BACKENDS)}.")


def backend_of_run(run_dir: Path) -> JobBackend:
    """The backend that runs this run, from its stored reference (a Ray run before it is handed
    to Ray has no address yet, and nothing to ask Ray: its folder says all)."""
    ref = runs.read_status(run_dir).backend
    if ref.name == "ray" and ref.address:
        from fer_core.tasks.ray import RayBackend

        return RayBackend.from_ref(ref)
    return LocalBackend(Path(run_dir).parent)


def launch(
    config: TrainConfig,
    *,
    runs_root: Path | None = None,
    preset: str | None = None,
    sweep: str | None = None,
    backend: JobBackend | None = None,
    record: dict[str, Any] | None = None,
    display_name: str | None = None,
) -> Path:
    """Create a queued run folder for ``config`` and hand it to the backend (the configured
    one by default); a backend that refuses the job leaves the run failed with its reason.
    ``record`` adds blocks to ``config.json`` (a study's name, group and arm);
    ``display_name`` names the run where Results lists it (its id never changes)."""
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
    try:
        copy_into_run(run_dir, data)  # a Ray node has no cache of ours
        backend.submit(run_dir)
    except FerError as err:
        runs.finish(run_dir, "failed", error=str(err))
        raise
    return run_dir


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
    """Cancel through the backend that runs the job."""
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
        raise RunError(
            f"Run {run_dir.name} cannot be resumed: only a failed run with a saved epoch can "
            f"(this one is {state}). Launch a new run instead."
        )
    backend = backend or backend_of_run(run_dir)
    runs.requeue(run_dir)
    backend.submit(run_dir)


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
