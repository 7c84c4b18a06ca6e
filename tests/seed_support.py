"""Study runs for the seed report's tests: copies of the session's finished demo runs, marked as
a study launched them (the ``study`` block in config.json, the group as the status' sweep)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from fer_core import runs


def study_run(source: Path, runs_root: Path, run_id: str, *, study: str, group: str, arm: str,
              **config: Any) -> Path:
    """Copy the finished run ``source`` into ``runs_root`` as arm ``arm`` of ``group``, with
    ``config`` changes written into its recorded TrainConfig (e.g. ``batch_size=16``)."""
    run_dir = Path(shutil.copytree(source, runs_root / run_id))
    record = runs.read_config(run_dir)
    runs.write_config(run_dir, replace(
        record, config={**record.config, **config},
        extra={**record.extra, "study": {"name": study, "group": group, "arm": arm}}))
    runs.write_status(run_dir, sweep=group)
    return run_dir
