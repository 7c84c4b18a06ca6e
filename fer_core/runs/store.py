"""The run folder: the one contract between the training engine and everything that shows runs.

    runs/<run-id>/
      config.json      the full TrainConfig, data fingerprint, library versions, device
      status.json      state, pid, times, progress, error message
      history.csv      one row per epoch
      metrics.json     validation and test metrics, per-class report, confusion matrix
      predictions.csv  one row per evaluated image
      model.keras      the best model
      log.txt          everything the job printed

Every file is written atomically (``fer_core.atomic``), so a page reading a run while its job
writes, or after the job died, sees whole files only. A run folder is self-contained: zip it,
send it, and another FER Studio shows it.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fer_core import atomic, settings
from fer_core.errors import RunError

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
HISTORY_COLUMNS = [
    "phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds",
]
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
            f"run id must be letters, digits, '.', '_' or '-' (at most 128); got {run_id!r}."
        )
    return (runs_root or settings.runs_dir()) / run_id


def create_run(
    config: dict[str, Any], *, run_dir: Path, extra: dict[str, Any] | None = None
) -> Path:
    """Write a new run's ``config.json`` and a ``queued`` status."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json(run_dir / "config.json", {"config": config, **(extra or {})})
    write_status(run_dir, state="queued", created=now_iso())
    return run_dir


# --- status --------------------------------------------------------------------------------------

def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file as a dict, or ``None`` when missing or unreadable (half-copied run)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_status(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / "status.json") or {}


def write_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``status.json``; ``updated`` is always refreshed."""
    status = read_status(run_dir)
    status.update(fields, updated=now_iso())
    atomic.write_json(run_dir / "status.json", status)
    return status


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


def effective_state(status: dict[str, Any]) -> str:
    """The state to show: a local "running" job whose process is gone has failed (crashed).

    Only judged on the host that started the process; a run from another machine (a cluster
    node) is shown as it says.
    """
    state = status.get("state", "failed" if not status else "queued")
    local = status.get("host") == socket.gethostname()
    if state == "running" and local and not pid_alive(status.get("pid")):
        # A process stopped by Cancel before it could record it was cancelled, not crashed;
        # the worker writes the same a moment later.
        return "cancelled" if status.get("cancel_requested") else "failed"
    return state


# --- history, metrics, predictions ---------------------------------------------------------------

def append_history(run_dir: Path, row: dict[str, Any]) -> None:
    """Add one epoch's row, rewriting the small CSV atomically."""
    history = read_history(run_dir)
    frame = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
    atomic.write_text(run_dir / "history.csv", frame.to_csv(index=False))


def read_history(run_dir: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(run_dir / "history.csv")
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=HISTORY_COLUMNS)


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / "metrics.json")


def read_predictions(run_dir: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(run_dir / "predictions.csv")
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def read_config(run_dir: Path) -> dict[str, Any]:
    data = read_json(run_dir / "config.json")
    if data is None:
        raise RunError(f"{run_dir} is not a readable run: config.json is missing or damaged.")
    return data


def read_log_tail(run_dir: Path, *, lines: int = 40) -> str:
    try:
        with open(run_dir / "log.txt", "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 64 * 1024, 0))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- listing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunInfo:
    """What lists and tables show of a run, read from its small files only."""

    run_id: str
    path: Path
    state: str
    config: dict[str, Any]
    status: dict[str, Any]
    metrics: dict[str, Any] | None
    problem: str | None = None  # why the run could not be read completely
    preset: str | None = None

    @property
    def label(self) -> str:
        return f"{self.run_id} ({self.state})"


def read_run(run_dir: Path) -> RunInfo:
    data = read_json(run_dir / "config.json")
    status = read_status(run_dir)
    problem = None
    if data is None:
        problem = "config.json is missing or damaged"
    elif not status:
        problem = "status.json is missing or damaged"
    return RunInfo(
        run_id=run_dir.name,
        path=run_dir,
        state=effective_state(status) if status else "failed",
        config=(data or {}).get("config", {}),
        status=status,
        metrics=read_metrics(run_dir),
        problem=problem,
        preset=(data or {}).get("preset") or status.get("preset"),
    )


def list_runs(runs_root: Path | None = None) -> list[RunInfo]:
    """Every run folder, newest first; unreadable ones are listed with their problem."""
    root = runs_root or settings.runs_dir()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [read_run(p) for p in sorted(folders, key=lambda p: p.name, reverse=True)]


def runs_table(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run: the comparison table of Results and ``runs list``."""
    rows = []
    for run in runs:
        metrics = run.metrics or {}
        val, test = metrics.get("val", {}), metrics.get("test", {})
        cfg = run.config
        rows.append(
            {
                "run": run.run_id,
                "state": run.state,
                "preset": run.preset,
                "backbone": cfg.get("backbone"),
                "val_accuracy": val.get("accuracy"),
                "val_loss": val.get("loss"),
                "test_accuracy": test.get("accuracy"),
                "test_loss": test.get("loss"),
                "macro_f1": test.get("macro_f1", val.get("macro_f1")),
                "epochs": metrics.get("epochs"),
                "minutes": round(metrics["seconds"] / 60, 1) if "seconds" in metrics else None,
                "batch_size": cfg.get("batch_size"),
                "learning_rate": cfg.get("learning_rate"),
                "dropout": cfg.get("dropout"),
                "sweep": run.status.get("sweep"),
            }
        )
    return pd.DataFrame(rows)
