"""Re-run: a new job with exactly the settings of an earlier run, in a folder of its own that
records which run it repeats (``rerun_of``), so Results can say so. It trains reproducibly
(``deterministic``), so a re-run of the re-run gives it back exactly."""

from __future__ import annotations

from pathlib import Path

from fer_core import runs, tasks
from fer_core.core.access import ensure_writable
from fer_core.core.config import TrainConfig
from fer_core.core.errors import RunError


def rerun(run_dir: Path, *, runs_root: Path | None = None, backend=None) -> Path:
    """Launch a new job with ``run_dir``'s config and preset; return the new run folder."""
    ensure_writable("Re-running a run")
    run_dir = Path(run_dir)
    record = runs.read_config(run_dir)
    if not record.config:
        raise RunError(f"Run {run_dir.name} has no readable config.json; it cannot be re-run.")
    preset = record.preset or runs.read_status(run_dir).preset
    config = TrainConfig.from_dict(record.config).replace(deterministic=True)
    new_dir = tasks.launch(config, preset=preset, backend=backend,
                          runs_root=runs_root or run_dir.parent)
    runs.write_status(new_dir, rerun_of=run_dir.name)
    return new_dir
