"""A task kind that only tests know: it counts steps, reporting progress and sleeping between
them, so the task system's queue, progress, cancel and backends are tested without TensorFlow.
Registered by the tests (``fer_core.tasks.kinds.register``); the backends run it unchanged."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fer_core.tasks.kinds import TaskKind
from fer_core.tasks.runner import TaskContext

LIGHT = TaskKind("dummy", "tests.dummy_task:run_task", heavy=False, label="counting")
HEAVY = TaskKind("dummy-heavy", "tests.dummy_task:run_task", heavy=True,
                 label="counting (heavy)")


def run_task(ctx: TaskContext) -> dict[str, Any]:
    steps, seconds = int(ctx.spec["steps"]), float(ctx.spec.get("seconds", 0.1))
    marker = ctx.spec.get("fail_once")  # a file that exists after the first attempt
    if marker and not Path(marker).exists():
        Path(marker).touch()
        raise RuntimeError("the first attempt fails")
    for step in range(steps):
        ctx.progress(step / steps, f"step {step + 1} of {steps}")
        time.sleep(seconds)
    ctx.progress(1.0, f"step {steps} of {steps}")
    return {"steps": steps, "pid": os.getpid()}
