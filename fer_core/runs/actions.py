"""What a user does to a finished run besides reading it: name it, note on it, delete it. The
folder id never changes (deep links, Ray and MLflow know a run by it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from fer_core import runs
from fer_core.core.access import ensure_writable
from fer_core.core.errors import RunError

MAX_NAME = 80
MAX_NOTE = 2000


def annotate(run_dir: Path, *, display_name: str | None = None, note: str | None = None
             ) -> runs.Status:
    """Give a run a display name and a note; empty text clears one, ``None`` leaves it."""
    ensure_writable("Naming or annotating a run")
    run_dir = Path(run_dir)
    if not runs.files(run_dir).status.is_file():
        raise RunError(f"Run {run_dir.name} has no status.json; it cannot be annotated.")
    changes: dict[str, str | None] = {}
    if display_name is not None:
        name = " ".join(display_name.split())
        if len(name) > MAX_NAME:
            raise RunError(f"A display name must be at most {MAX_NAME} characters; got "
                           f"{len(name)}. Put the rest in the note.")
        changes["display_name"] = name or None
    if note is not None:
        if len(note) > MAX_NOTE:
            raise RunError(f"A note must be at most {MAX_NOTE:,} characters; got {len(note):,}.")
        changes["note"] = note.strip() or None
    return runs.write_status(run_dir, **changes)


def delete_run(run_dir: Path) -> None:
    """Delete a run folder for good; a queued or running job must be cancelled first."""
    ensure_writable("Deleting a run")
    run_dir = Path(run_dir)
    if not runs.files(run_dir).status.is_file() and not runs.files(run_dir).config.is_file():
        raise RunError(f"{run_dir} is not a run folder (no status.json or config.json); "
                       "nothing was deleted.")
    state = runs.effective_state(runs.read_status(run_dir))
    if state in ("queued", "running"):
        raise RunError(f"Run {run_dir.name} is {state}; cancel it first, then delete it.")
    shutil.rmtree(run_dir)


def title(status: runs.Status, run_id: str) -> str:
    """How lists name a run: its display name with the id, or the id alone."""
    return f"{status.display_name} ({run_id})" if status.display_name else run_id


def drop_model(run_dir: Path) -> bool:
    """Delete a finished run's model file, keeping everything read about it (scores, curves,
    predictions): a search keeps the models of its best trials only. True if one was there."""
    ensure_writable("Deleting a model file")
    model = runs.files(run_dir).model
    if runs.effective_state(runs.read_status(run_dir)) in ("queued", "running"):
        raise RunError(f"Run {Path(run_dir).name} is still running; its model stays.")
    existed = model.is_file()
    model.unlink(missing_ok=True)
    return existed
