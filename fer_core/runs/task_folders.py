"""Task folders: the long work that is not training, with the run folder's contract (the same
store verbs) plus ``task.json`` and ``result.json``. They live in ``<runs>/.tasks/``, which
every Ray node shares and the run listing hides; a task's input files are copied into its
``inputs/`` at submission, so they reach a Ray worker with it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_core import runs
from fer_core.core import atomic, settings
from fer_core.core.access import ensure_may_write
from fer_core.core.errors import RunError

FOLDER = ".tasks"  # under the runs folder
INPUTS = "inputs"


@dataclass(frozen=True)
class TaskRecord:
    """``task.json``. ``heavy`` tasks train (one at a time per machine, after the queue's
    training jobs); ``subject`` (a run id, a fingerprint) lets a page find its latest task;
    ``lane`` names the local queue's lane where it is not the one ``heavy`` implies."""

    kind: str
    spec: dict[str, Any] = field(default_factory=dict)
    entry: str = ""
    heavy: bool = False
    subject: str | None = None
    lane: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TaskRecord:
        data = data or {}
        return cls(kind=str(data.get("kind") or "unknown"),
                   spec=data["spec"] if isinstance(data.get("spec"), dict) else {},
                   entry=str(data.get("entry") or ""), heavy=bool(data.get("heavy")),
                   subject=data.get("subject") if isinstance(data.get("subject"), str) else None,
                   lane=str(data.get("lane") or ""))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": self.spec, "entry": self.entry, "heavy": self.heavy,
                "subject": self.subject, **({"lane": self.lane} if self.lane else {})}


def root(runs_root: Path | None = None) -> Path:
    return Path(runs_root or settings.runs_dir()) / FOLDER


def is_task(folder: Path) -> bool:
    return runs.files(folder).task.is_file()


def new_task_dir(kind: str, *, runs_root: Path | None = None) -> Path:
    """A new, unique folder for a task of ``kind``, named as run ids are (sortable)."""
    tasks_root = root(runs_root)
    return tasks_root / runs.new_run_id(kind, runs_root=tasks_root)


def create_task(task_dir: Path, record: TaskRecord, *, inputs: dict[str, Path] | None = None,
                **status: Any) -> Path:
    """Write a new task's inputs, ``task.json`` and, last, its ``queued`` status: a worker
    takes only folders with a status, so it never sees a task half-copied."""
    ensure_may_write(task_dir)
    task_dir.mkdir(parents=True, exist_ok=True)
    for name, source in (inputs or {}).items():
        target = task_dir / INPUTS / Path(name).name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
    atomic.write_json(runs.files(task_dir).task, record.to_json())
    runs.write_status(task_dir, state="queued", created=runs.now_iso(), queued=time.time(),
                      **status)
    return task_dir


def read_task(task_dir: Path) -> TaskRecord:
    data = atomic.read_json(runs.files(task_dir).task)
    if data is None:
        raise RunError(f"{task_dir} is not a readable task: task.json is missing or damaged.")
    return TaskRecord.from_json(data)


def input_path(task_dir: Path, name: str) -> Path:
    return Path(task_dir) / INPUTS / Path(name).name


def write_result(task_dir: Path, result: dict[str, Any]) -> None:
    atomic.write_json(runs.files(task_dir).result, result)


def read_result(task_dir: Path) -> dict[str, Any] | None:
    return atomic.read_json(runs.files(task_dir).result)


def task_folders(runs_root: Path | None = None) -> list[Path]:
    """Every task folder, newest first."""
    return [folder for folder in runs.run_folders(root(runs_root)) if is_task(folder)]


def job_folders(runs_root: Path | None = None) -> list[Path]:
    """Every run folder and task folder: all the work a queue or the job list walks."""
    return [*runs.run_folders(runs_root), *task_folders(runs_root)]


def latest(kind: str, subject: str | None, *, runs_root: Path | None = None,
           state: str | None = None) -> Path | None:
    """The newest task of ``kind`` about ``subject`` (in ``state``, when given), or ``None``:
    how a page finds the task it started after a reload."""
    for folder in task_folders(runs_root):
        record = read_task(folder)
        if record.kind == kind and record.subject == subject and (
                state is None or runs.effective_state(runs.read_status(folder)) == state):
            return folder
    return None


def clean(*, runs_root: Path | None = None, older_than_days: float = 30) -> list[Path]:
    """Delete ended task folders older than ``older_than_days``; return them."""
    cutoff = time.time() - older_than_days * 86400
    removed = []
    for folder in task_folders(runs_root):
        status = runs.read_status(folder)
        stamp = runs.parse_time(status.finished) or runs.parse_time(status.created) or 0
        if runs.effective_state(status) in runs.FINAL_STATES and stamp < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
