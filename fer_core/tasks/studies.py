"""Launching a study, a plan of ``fer_core.core.studies``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_core import tasks
from fer_core.core.config import TrainConfig
from fer_core.core.studies import (  # noqa: F401  (the plans, for whoever launches them)
    RECORD_KEY,
    STUDIES,
    get_study,
    new_group_id,
    study_configs,
    study_of,
)


def launch_study(name: str, base: TrainConfig, *, preset: str | None = None,
                 runs_root: Path | None = None, backend: Any = None) -> list[Path]:
    """Queue every arm of the study as its own job, grouped as one sweep."""
    arms = study_configs(name, base)
    group = new_group_id(name)
    return [tasks.launch(config, runs_root=runs_root, preset=preset, sweep=group,
                        backend=backend, display_name=f"{name}: {arm.label}",
                        record={RECORD_KEY: {"name": name, "group": group, "arm": arm.label}})
            for arm, config in arms]
