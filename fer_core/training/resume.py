"""Resuming a run whose process died, from the last epoch's backup of its phase; a finished
phase 1 leaves a marker, so a resumed job fine-tunes from the best phase-1 model. History and
the best so far are brought in line with the backup, so a resumed run reaches the same number
of epochs as one that never stopped. No Keras: the app asks :func:`is_resumable` of failed runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fer_core import runs
from fer_core.core import atomic


def backup_dir(run_dir: Path, phase: int) -> Path:
    return runs.files(run_dir).backup / f"phase{phase}"


def phase_done_path(run_dir: Path, phase: int) -> Path:
    return runs.files(run_dir).backup / f"phase{phase}.done.json"


def backup_path(run_dir: Path, phase: int, epochs: int) -> Path:
    """Where the backup after ``epochs`` epochs of ``phase`` goes."""
    return backup_dir(run_dir, phase) / f"epoch{epochs:04d}.weights.h5"


def backups(run_dir: Path, phase: int) -> list[Path]:
    """The phase's backups, oldest first (more than one only if a crash hit between the save
    of one and the removal of the one before)."""
    return sorted(backup_dir(run_dir, phase).glob("epoch[0-9][0-9][0-9][0-9].weights.h5"))


def restored_epochs(run_dir: Path, phase: int) -> int:
    """Epochs of ``phase`` that its backup holds (0 when there is none)."""
    found = backups(run_dir, phase)
    return int(found[-1].name[len("epoch"):].split(".")[0]) if found else 0


def restore(model: Any, run_dir: Path, phase: int) -> int:
    """Load the phase's backup into a compiled ``model``; return the epochs it holds. The
    optimizer is built first so its state (hence the schedule's step) is restored too."""
    epochs = restored_epochs(run_dir, phase)
    if epochs:
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(backup_path(run_dir, phase, epochs))
    return epochs


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
