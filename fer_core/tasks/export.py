"""The ``export`` task: a run's model exported to the asked formats and checked against it.

Conversion and int8 calibration load TensorFlow and take minutes: they run in the task's own
process, never in the web server. The exports land in the run's ``export/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_core.export import export_run, formats_of
from fer_core.tasks.runner import TaskContext

KIND = "export"


def spec(run_dir: Path, choice: str) -> dict[str, Any]:
    """What the task is asked: the run (an absolute path, as a Ray worker reads it) and the
    format choice (a format name or ``all``), checked before anything is queued."""
    formats_of(choice)
    return {"run_dir": str(Path(run_dir).resolve()), "formats": choice}


def run_task(ctx: TaskContext) -> dict[str, Any]:
    entries = export_run(Path(ctx.spec["run_dir"]), formats_of(ctx.spec["formats"]),
                         progress=ctx.progress)
    return {"entries": entries}
