"""The run store: the only code that knows a run folder's files (:class:`RunFiles`) and its
status keys (``records``). Every file is written atomically.

A run's life is five verbs: :func:`create_run` (queued), :func:`start`,
:func:`report_progress`, :func:`request_cancel` and :func:`finish`. Status writes merge under a
lock held for milliseconds, so two writers on one machine never lose each other's fields; a
cancel request is a marker file that no status write, from any machine, can undo. Readers
never lock: a viewer works on a runs folder it cannot write to.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from fer_core.core import atomic, settings
from fer_core.core.access import ensure_may_write
from fer_core.core.atomic import read_json  # noqa: F401  (part of the store's interface)
from fer_core.core.errors import RunError
from fer_core.runs import lognoise
from fer_core.runs.records import (  # noqa: F401  (part of the store's interface)
    FINAL_STATES,
    STATES,
    BackendRef,
    Progress,
    RunRecord,
    Status,
)

HISTORY_COLUMNS = [
    "phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds",
]
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class RunFiles:
    """Where each part of a run lives; every module asks here instead of naming a file."""

    root: Path

    config = property(lambda self: self.root / "config.json")  # TrainConfig, data, versions
    status = property(lambda self: self.root / "status.json")  # state, times, progress, backend
    cancel = property(lambda self: self.root / "cancel_requested")  # once Cancel was pressed
    history = property(lambda self: self.root / "history.csv")  # one row per epoch
    metrics = property(lambda self: self.root / "metrics.json")  # scores, confusion matrices
    predictions = property(lambda self: self.root / "predictions.csv")  # one row per image
    model = property(lambda self: self.root / "model.keras")  # the best model
    log = property(lambda self: self.root / "log.txt")  # everything the job printed
    debug_log = property(lambda self: self.root / "tf-startup.log")  # noise moved out of log
    backup = property(lambda self: self.root / "backup")  # resumable training state
    tensorboard = property(lambda self: self.root / "tensorboard")
    model_card = property(lambda self: self.root / "MODEL_CARD.md")  # Mitchell et al. 2019
    export = property(lambda self: self.root / "export")  # deployable models, export.json
    features = property(lambda self: self.root / "features")  # per-face features and the map
    overrides = property(lambda self: self.root / "label_overrides.json")  # copied at launch
    calibration = property(lambda self: self.root / "calibration.json")  # fitted temperature
    task = property(lambda self: self.root / "task.json")  # a task folder's kind and spec
    result = property(lambda self: self.root / "result.json")  # what a task made

    @property
    def lock(self) -> Path:
        """The status lock, outside the run (a viewer's read-only runs folder needs none) and
        local to the machine, as the writers it serialises are."""
        key = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()
        return Path(tempfile.gettempdir()) / "fer-studio-locks" / f"{key}.lock"

    # What an exported run must hold, and the small files logged beside a tracked model.
    REQUIRED = ("config.json", "status.json")
    RECORDS = ("config.json", "metrics.json", "history.csv", "predictions.csv", "log.txt",
               "MODEL_CARD.md")


def files(run_dir: Path) -> RunFiles:
    return RunFiles(Path(run_dir))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_time(text: Any) -> float | None:
    """A status timestamp (ISO 8601, as :func:`now_iso` writes it) as epoch seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def new_run_id(label: str, *, runs_root: Path | None = None) -> str:
    """A sortable, readable id such as ``20261124-220531-inceptionv3``, unique in the folder."""
    root = runs_root or settings.runs_dir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()[:40] or "run"
    run_id, n = f"{stamp}-{slug}", 2
    while (root / run_id).exists():
        run_id, n = f"{stamp}-{slug}-{n}", n + 1
    return run_id


def run_path(run_id: str, *, runs_root: Path | None = None) -> Path:
    """The folder of ``run_id``; ids that could escape the runs folder are refused."""
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(
            f"run id must be letters, digits, '.', '_' or '-' (at most 128); got {run_id!r}.")
    return (runs_root or settings.runs_dir()) / run_id


def is_run(run_dir: Path) -> bool:
    """Whether the folder holds a run (a status to read)."""
    return files(run_dir).status.is_file()


# --- the five verbs ------------------------------------------------------------------------------

def create_run(config: dict[str, Any], *, run_dir: Path, extra: dict[str, Any] | None = None,
               **status: Any) -> Path:
    """Write a new run's ``config.json`` and a ``queued`` status (with ``status`` fields)."""
    ensure_may_write(run_dir)  # before the folder: a viewer leaves no empty one behind
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, RunRecord.from_json({"config": config, **(extra or {})}))
    write_status(run_dir, state="queued", created=now_iso(), **status)
    return run_dir


def start(run_dir: Path, *, pid: int, **fields: Any) -> Status:
    """The job runs: its process and host, and when it started (kept when already stamped)."""
    started = read_status(run_dir)
    stamp = started.started if started.state == "running" and started.started else now_iso()
    return write_status(run_dir, state="running", pid=pid, host=socket.gethostname(),
                        started=stamp, error=None, **fields)


def report_progress(run_dir: Path, progress: dict[str, Any]) -> Status:
    return write_status(run_dir, progress=progress)


def set_backend(run_dir: Path, backend: BackendRef) -> Status:
    """Record where the job runs, for every later status, log and cancel call."""
    return write_status(run_dir, **backend.to_json())


def request_cancel(run_dir: Path) -> None:
    """Ask the job to stop: a marker file no status write can undo, whoever writes it."""
    marker = files(run_dir).cancel
    if not marker.exists():
        atomic.write_text(marker, now_iso())


def cancel_requested(run_dir: Path) -> str | None:
    """When a stop was asked for (the marker's time), or ``None``."""
    try:
        return files(run_dir).cancel.read_text().strip() or now_iso()
    except OSError:
        return None


def requeue(run_dir: Path) -> Status:
    """Queue an ended run again (resume); an old cancel request would stop it at once."""
    files(run_dir).cancel.unlink(missing_ok=True)
    return write_status(run_dir, state="queued", queued=time.time(), error=None, pid=None,
                        resumed=read_status(run_dir).resumed + 1)


def finish(run_dir: Path, state: str, *, error: str | None = None, **fields: Any) -> Status:
    """The job ended: ``succeeded``, ``failed`` (with why) or ``cancelled``."""
    if state not in FINAL_STATES:
        raise RunError(f"A run ends as one of {', '.join(sorted(FINAL_STATES))}; got {state!r}.")
    if error is not None:
        fields["error"] = error
    return write_status(run_dir, state=state, finished=now_iso(), **fields)


# --- status --------------------------------------------------------------------------------------

def read_status(run_dir: Path) -> Status:
    """The status as the folder holds it, with a cancel request from its marker file."""
    data = read_json(files(run_dir).status) or {}
    requested = cancel_requested(run_dir)
    if requested and data:
        data["cancel_requested"] = requested
    return Status.from_json(data)


def write_status(run_dir: Path, **fields: Any) -> Status:
    """Merge ``fields`` into the status under the lock, so concurrent writers lose nothing."""
    paths = files(run_dir)
    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(paths.lock, timeout=30):
        data = read_json(paths.status) or {}
        data.update(fields, updated=now_iso())
        data.pop("cancel_requested", None)  # lives in its own file
        status = Status.from_json(data)
        atomic.write_json(paths.status, status.to_json())
    return read_status(run_dir) if paths.cancel.exists() else status


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def effective_state(status: Status) -> str:
    """The state to show: a "running" job whose process is gone has failed (crashed), judged
    only on the host that started it; a run from another machine is shown as it says."""
    if not isinstance(status, Status):
        status = Status.from_json(dict(status))
    if not status:
        return "failed"
    state = status.state or "queued"
    local = status.host == socket.gethostname()
    if state == "running" and local and not pid_alive(status.pid):
        # A process stopped by Cancel before it could record it was cancelled, not crashed;
        # the worker writes the same a moment later.
        return "cancelled" if status.cancel_requested else "failed"
    return state


# --- config, history, metrics, predictions, log --------------------------------------------------

def read_config(run_dir: Path) -> RunRecord:
    data = read_json(files(run_dir).config)
    if data is None:
        raise RunError(f"{run_dir} is not a readable run: config.json is missing or damaged.")
    return RunRecord.from_json(data)


def write_config(run_dir: Path, record: RunRecord) -> None:
    atomic.write_json(files(run_dir).config, record.to_json())


def append_history(run_dir: Path, row: dict[str, Any]) -> None:
    """Add one epoch's row, rewriting the small CSV atomically."""
    history = read_history(run_dir)
    rows = pd.DataFrame([row])
    write_history(run_dir, pd.concat([history, rows], ignore_index=True) if len(history) else rows)


def write_history(run_dir: Path, history: pd.DataFrame) -> None:
    atomic.write_text(files(run_dir).history, history.to_csv(index=False))


def read_history(run_dir: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(files(run_dir).history)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=HISTORY_COLUMNS)


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    return read_json(files(run_dir).metrics)


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    atomic.write_json(files(run_dir).metrics, metrics)


def read_predictions(run_dir: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(files(run_dir).predictions)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def write_predictions(run_dir: Path, predictions: pd.DataFrame) -> None:
    atomic.write_text(files(run_dir).predictions, predictions.to_csv(index=False))


def read_log_tail(run_dir: Path, *, lines: int = 40) -> str:
    try:
        with open(files(run_dir).log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 64 * 1024, 0))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(lognoise.without_noise(text).splitlines()[-lines:])


# --- listing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunInfo:
    """What lists and tables show of a run, read from its small files only."""

    run_id: str
    path: Path
    state: str
    status: Status
    metrics: dict[str, Any] | None
    record: RunRecord = field(default_factory=RunRecord)
    problem: str | None = None  # why the run could not be read completely

    @property
    def label(self) -> str:
        return f"{self.run_id} ({self.state})"

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def preset(self) -> str | None:
        """The preset the run came from; runs of older versions name it in their status."""
        return self.record.preset or getattr(self.status, "preset", None)

    @property
    def data(self) -> dict[str, Any]:
        return self.record.data

    @property
    def environment(self) -> dict[str, Any]:
        return self.record.environment

    @property
    def extra(self) -> dict[str, Any]:
        return self.record.extra


def read_run(run_dir: Path) -> RunInfo:
    raw = read_json(files(run_dir).config)
    status = read_status(run_dir)
    problem = None
    if raw is None:
        problem = "config.json is missing or damaged"
    elif not status:
        problem = "status.json is missing or damaged"
    return RunInfo(run_id=run_dir.name, path=run_dir,
                   state=effective_state(status) if status else "failed", status=status,
                   metrics=read_metrics(run_dir), record=RunRecord.from_json(raw), problem=problem)


def run_folders(runs_root: Path | None = None) -> list[Path]:
    """Every run folder, newest first (ids start with their time)."""
    root = runs_root or settings.runs_dir()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(folders, key=lambda p: p.name, reverse=True)


def list_runs(runs_root: Path | None = None) -> list[RunInfo]:
    """Every run folder, newest first; unreadable ones are listed with their problem."""
    return [read_run(p) for p in run_folders(runs_root)]


def runs_table(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run: the comparison table of Results and ``runs list``."""
    rows = []
    for run in runs:
        metrics = run.metrics or {}
        val, test = metrics.get("val", {}), metrics.get("test", {})
        cfg = run.config
        rows.append({
            "run": run.run_id, "state": run.state, "preset": run.preset,
            "backbone": cfg.get("backbone"), "val_accuracy": val.get("accuracy"),
            "val_loss": val.get("loss"), "test_accuracy": test.get("accuracy"),
            "test_loss": test.get("loss"), "macro_f1": test.get("macro_f1", val.get("macro_f1")),
            "epochs": metrics.get("epochs"),
            "minutes": round(metrics["seconds"] / 60, 1) if "seconds" in metrics else None,
            "batch_size": cfg.get("batch_size"), "learning_rate": cfg.get("learning_rate"),
            "dropout": cfg.get("dropout"), "sweep": run.status.sweep,
        })
    return pd.DataFrame(rows)
