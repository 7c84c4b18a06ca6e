"""What the Train page shows of jobs, computed from run folders, without Streamlit. The page
polls and only draws :func:`job_rows`; what could be wrong (a status half written by an old
version, a clock that moved) is settled here, where it is tested."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_core.core.config import TrainConfig, config_field, field_kind, parse_text
from fer_core.core.errors import ConfigError
from fer_core.core.vocabulary import label, text
from fer_core.runs import FINAL_STATES, Progress, RunInfo, Status, cancel_requested, parse_time
from fer_core.runs.records import finite_number

ACTIVE_STATES = ("running", "queued")
EVALUATING = "evaluating"  # the stage a job reports after its last epoch
SWEEP_FIELDS = ("batch_size", "learning_rate", "dropout")


@dataclass(frozen=True)
class JobRow:
    """One job as the job list draws it; every number already checked and clamped."""

    run_id: str
    path: Path
    state: str
    phase: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    steps: int | None = None
    fraction: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    sweep: str | None = None
    preset: str | None = None
    backbone: str | None = None
    queue_position: int | None = None  # 1 = next to run
    test_accuracy: float | None = None
    stage: str | None = None  # "evaluating" after the last epoch; a task's sentence
    kind: str = "train"  # the task kind (fer_core.tasks.kinds)
    cancelling: bool = False  # a stop was asked for; a training job evaluates its best model

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


# --- time ----------------------------------------------------------------------------------------

def format_duration(seconds: float | None) -> str:
    """A short human duration: '42 s', '3 min 05 s', '1 h 02 min'; '-' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _status(status: Status | Mapping[str, Any]) -> Status:
    """A status record, also from the plain JSON object an older caller holds."""
    return status if isinstance(status, Status) else Status.from_json(dict(status or {}))


def elapsed_seconds(status: Status | Mapping[str, Any], *, now: float | None = None
                    ) -> float | None:
    """Seconds since the job started, up to when it finished; ``None`` before it started."""
    status = _status(status)
    started = parse_time(status.started)
    if started is None:
        return None
    end = parse_time(status.finished)
    if end is None:
        end = time.time() if now is None else now
    return max(end - started, 0.0)


def eta_seconds(status: Status | Mapping[str, Any], *, now: float | None = None
                ) -> float | None:
    """Seconds left: the job's last estimate less the time since it wrote it (``updated``, every
    couple of seconds at most), never below zero."""
    status = _status(status)
    eta = status.progress.eta_seconds if status.progress else None
    if eta is None:
        return None
    updated = parse_time(status.updated)
    if updated is not None:
        eta -= max((time.time() if now is None else now) - updated, 0.0)
    return max(eta, 0.0)


# --- progress ------------------------------------------------------------------------------------

def progress_fraction(state: str, progress: Mapping[str, Any] | Progress | None) -> float:
    """Share of the job done, between 0 and 1; a succeeded job is complete by definition.
    While the best model is evaluated, the share of the evaluation done, so the bar moves."""
    if state == "succeeded":
        return 1.0
    if isinstance(progress, Progress):
        progress = progress.to_json()
    progress = progress or {}
    if progress.get("stage") == EVALUATING and progress.get("steps"):
        return min(max((progress.get("step") or 0) / progress["steps"], 0.0), 1.0)
    value = finite_number(progress.get("fraction")) or 0.0
    return min(max(value, 0.0), 1.0)


def progress_text(row: JobRow) -> str:
    """The line under a job's progress bar: where it is, how long it has run, what is left."""
    if row.state == "queued":
        where = f"position {row.queue_position} in the queue" if row.queue_position else ""
        return f"Queued{', ' + where if where else ''}"
    if row.cancelling:
        doing = "Cancelling" + (": evaluating the best model so far" * (row.kind == "train"))
        return task_text(row.state, doing, row.elapsed_seconds)
    if row.kind != "train":
        return task_text(row.state, row.stage, row.elapsed_seconds)
    parts = []
    if row.epoch is not None and row.epochs:
        phase = f"phase {row.phase} · " if row.phase and row.phase > 1 else ""
        parts.append(f"{phase}epoch {row.epoch}/{row.epochs}")
    if row.step is not None and row.steps and row.state == "running":
        doing = "evaluating the best model, batch" if row.stage == EVALUATING else "step"
        parts.append(f"{doing} {row.step}/{row.steps}")
    if row.state == "running":
        if not parts:
            parts.append("starting (loading TensorFlow and the data)")
        if row.elapsed_seconds is not None:
            parts.append(f"{format_duration(row.elapsed_seconds)} elapsed")
        if row.fraction >= 1.0 and row.stage != EVALUATING:  # an older job's evaluation
            parts.append("evaluating")
        elif row.eta_seconds is not None:
            parts.append(f"ETA {format_duration(row.eta_seconds)}")
    elif row.elapsed_seconds is not None:
        parts.append(f"{row.state} after {format_duration(row.elapsed_seconds)}")
    else:
        parts.append(row.state)
    return " · ".join(parts)


def task_text(state: str, stage: str | None, elapsed: float | None) -> str:
    """A task's line: what it is doing (its own sentence) and for how long."""
    if state == "queued":
        return "Queued: it starts when the work before it is done"
    doing = (stage or "starting") if state == "running" else state
    return doing + (f" · {format_duration(elapsed)}" if elapsed is not None else "")


def task_progress(status: Status, state: str) -> tuple[float, str]:
    """A task's progress bar: the share done and its line."""
    progress = status.progress
    return (progress_fraction(state, progress),
            task_text(state, progress.stage if progress else None, elapsed_seconds(status)))


def task_row(job: Any, *, now: float | None = None, queue_position: int | None = None
             ) -> JobRow:
    """A task (``fer_core.tasks.Job``) as a job of the list."""
    status = _status(job.status)
    progress = status.progress or Progress()
    return JobRow(run_id=job.path.name, path=job.path, state=job.state, kind=job.kind,
                  fraction=progress_fraction(job.state, progress), stage=progress.stage,
                  elapsed_seconds=elapsed_seconds(status, now=now),
                  error=status.error if job.state == "failed" else None,
                  queue_position=queue_position, cancelling=_cancelling(job.path, job.state))


def _cancelling(path: Path, state: str) -> bool:
    return state == "running" and cancel_requested(path) is not None


def estimate_text(result: Mapping[str, Any]) -> str:
    """An estimate job's answer, and whether a training job shared the machine as it timed."""
    note = (" Timed while a training job was running here: alone, it trains faster."
            if result.get("beside_training") else "")
    return f"{result.get('text', '')}{note}"


def metrics_text(metrics: Mapping[str, float]) -> str:
    """Latest training metrics in a fixed order, e.g. 'Training loss 1.2340 · Validation
    accuracy 41.2%' (checked numbers: see fer_core.runs.Progress)."""
    keys = {"loss": "train_loss", "accuracy": "train_accuracy", "val_loss": "val_loss",
            "val_accuracy": "val_accuracy"}
    return " · ".join(f"{label(key)} {text(key, metrics[name])}"
                      for name, key in keys.items() if name in metrics)


def job_row(info: RunInfo, *, now: float | None = None, queue_position: int | None = None
            ) -> JobRow:
    """One run as a job; tolerant of missing or malformed progress (old or half-copied runs)."""
    status = _status(info.status)
    progress = status.progress or Progress()
    metrics = info.metrics if isinstance(info.metrics, dict) else {}
    test = metrics.get("test") or {}
    ran = finite_number(metrics.get("epochs")) if info.state in FINAL_STATES else None
    return JobRow(
        run_id=info.run_id, path=info.path, state=info.state, phase=progress.phase,
        epoch=int(ran) if ran is not None else progress.epoch, epochs=progress.epochs,
        step=progress.step, steps=progress.steps,
        fraction=progress_fraction(info.state, progress), stage=progress.stage,
        eta_seconds=eta_seconds(status, now=now) if info.state == "running" else None,
        elapsed_seconds=elapsed_seconds(status, now=now), metrics=progress.metrics,
        error=(status.error or info.problem) if info.state == "failed" else None,
        sweep=status.sweep, preset=status.preset, backbone=info.config.get("backbone"),
        queue_position=queue_position, cancelling=_cancelling(info.path, info.state),
        test_accuracy=finite_number(test.get("accuracy")) if isinstance(test, dict) else None)


def job_rows(infos: Iterable[RunInfo], *, tasks: Iterable[Any] = (), recent: int = 5,
             now: float | None = None) -> list[JobRow]:
    """Running jobs, then the queue in the order it will run, then the ``recent`` last finished;
    training runs (``infos``) and other tasks (``fer_core.tasks.Job``) together."""
    jobs = [(i.run_id, i) for i in infos] + [(t.path.name, t) for t in tasks]
    jobs.sort(key=lambda pair: pair[0], reverse=True)  # ids start with their time
    queued = sorted((pair for pair in jobs if pair[1].state == "queued"),
                    key=lambda pair: (finite_number(_status(pair[1].status).queued) or 0.0,
                                      pair[0]))
    position = {job_id: n for n, (job_id, _) in enumerate(queued, start=1)}
    active = sorted((pair for pair in jobs if pair[1].state in ACTIVE_STATES),
                    key=lambda pair: (ACTIVE_STATES.index(pair[1].state),
                                      position.get(pair[0], 0)))
    finished = [pair for pair in jobs if pair[1].state in FINAL_STATES][: max(recent, 0)]
    return [job_row(job, now=now, queue_position=position.get(job_id))
            if isinstance(job, RunInfo) else
            task_row(job, now=now, queue_position=position.get(job_id))
            for job_id, job in active + finished]


# --- sweeps --------------------------------------------------------------------------------------

def parse_values(name: str, text: str) -> list[Any]:
    """'16, 32, 64' as a list typed by the field (ints for batch_size), each value in range;
    repeats dropped, order kept. A bad value is a ``ConfigError`` naming the field."""
    if field_kind(config_field(name)).python_type in (list, dict):
        raise ConfigError(f"{name} cannot be swept: it holds a list or mapping, not one value.")
    values: list[Any] = []
    for item in (part for part in re.split(r"[,\s;]+", text.strip()) if part):
        value = parse_text(name, item)
        TrainConfig().replace(**{name: value})  # the field's own range check and message
        if value not in values:
            values.append(value)
    return values


def parse_sweep_grid(texts: Mapping[str, str]) -> dict[str, list[Any]]:
    """The sweep grid from the page's text inputs; empty inputs are left out."""
    grid = {name: parse_values(name, text) for name, text in texts.items() if text.strip()}
    return {name: values for name, values in grid.items() if values}


def sweep_size(grid: Mapping[str, list[Any]]) -> int:
    """How many jobs the grid launches (0 when it lists no values at all)."""
    sizes = [len(values) for values in grid.values() if values]
    return math.prod(sizes) if sizes else 0
