"""Resuming a run whose process died (a crash, ``kill -9``, a lost machine).

Keras' ``BackupAndRestore`` keeps the weights and epoch of each phase in
``backup/phase<N>/`` while that phase trains, and deletes the folder when the phase ends. Its
folder cannot be shared between two ``fit`` calls, so each phase has its own, and a finished
phase 1 leaves a marker (``backup/phase1.done.json``) so a resumed job skips it and fine-tunes
from the best phase-1 model. History rows and the best-so-far accuracy are brought back in
line with the backup, so a resumed run reaches the same number of epochs as one that never
stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fer_core import atomic, runs


def backup_dir(run_dir: Path, phase: int) -> Path:
    return runs.files(run_dir).backup / f"phase{phase}"


def phase_done_path(run_dir: Path, phase: int) -> Path:
    return runs.files(run_dir).backup / f"phase{phase}.done.json"


def restored_epochs(run_dir: Path, phase: int) -> int:
    """Epochs of ``phase`` that its backup holds (0 when there is none)."""
    path = backup_dir(run_dir, phase) / "training_metadata.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


@dataclass(frozen=True)
class PhaseDone:
    epochs: int  # epochs this phase ran (early stopping can end it before its budget)
    best_value: float
    best_epoch: int


def mark_phase_done(run_dir: Path, phase: int, done: PhaseDone) -> None:
    atomic.write_json(phase_done_path(run_dir, phase), done.__dict__)


def phase_done(run_dir: Path, phase: int) -> PhaseDone | None:
    data = runs.read_json(phase_done_path(run_dir, phase))
    return PhaseDone(**data) if data else None


def align_history(run_dir: Path, *, keep_through_epoch: int) -> pd.DataFrame:
    """Drop history rows the backup does not cover (an epoch logged after the last backup)."""
    history = runs.read_history(run_dir)
    kept = history[history["epoch"] <= keep_through_epoch]
    if len(kept) != len(history):
        runs.write_history(run_dir, kept)
    return kept


def is_resumable(run_dir: Path) -> bool:
    """A failed run with a backup or a finished phase 1 can go on where it stopped."""
    backup = runs.files(run_dir).backup
    return backup.is_dir() and any(backup.iterdir())
