"""A task's own process: ``python -m fer_core jobs run --task-dir DIR``.

Whichever backend started it, it marks the task running, calls the kind's function with a
:class:`TaskContext`, writes what it returns to ``result.json`` and ends the task. A progress
call, ``(fraction, message)``, is also where a cancelled task (SIGTERM, from Cancel or Ray)
stops: the next one after the signal raises :class:`TaskCancelled`, so every kind that
reports progress stops at a step boundary, and one that watches ``ctx.stop`` stops sooner.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fer_core import runs
from fer_core.core.errors import RunError
from fer_core.core.signals import StopFlag
from fer_core.runs import task_folders

log = logging.getLogger("fer_core.tasks")

Progress = Callable[[float, str], None]  # (fraction done, what is happening)
PROGRESS_EVERY_S = 0.5  # status.json is re-read by pages every 2 s: no need to write more


class TaskCancelled(Exception):
    """Raised by a progress call once a stop was asked for: the task ends as cancelled."""


@dataclass
class TaskContext:
    """What a kind's function gets: its folder, its spec, the stop flag and a progress call."""

    task_dir: Path
    spec: dict[str, Any]
    stop: StopFlag = field(default_factory=StopFlag)
    _last: float = 0.0

    def progress(self, fraction: float, message: str) -> None:
        """Record how far the task is; calls closer than :data:`PROGRESS_EVERY_S` are
        dropped, except the last (fraction 1). Raises :class:`TaskCancelled` after a stop."""
        if self.stop.requested:
            raise TaskCancelled(message)
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        runs.report_progress(self.task_dir, {"fraction": max(0.0, min(float(fraction), 1.0)),
                                             "stage": message})

    def input(self, name: str) -> Path:
        """A file the task was given at submission (in its ``inputs/``)."""
        return task_folders.input_path(self.task_dir, name)


def resolve(entry: str) -> Callable[[TaskContext], dict[str, Any]]:
    module, _, function = entry.partition(":")
    if not module or not function:
        raise RunError(f"A task's entry must be 'module:function'; got {entry!r}.")
    return getattr(importlib.import_module(module), function)


def run_task(task_dir: Path, *, log_stream: TextIO | None = None) -> int:
    """Run the task in this process; the exit status says whether it succeeded. The engine's
    log lines go to ``log_stream``, by default stdout, which a backend sends to the task's log."""
    task_dir = Path(task_dir)
    status = runs.read_status(task_dir)
    if status.ended:  # cancelled while it waited (Ray cannot drop a pending job)
        print(f"Task {task_dir.name} is already {status.state}; not running it.")
        return 0
    record = task_folders.read_task(task_dir)
    context = TaskContext(task_dir, record.spec)
    context.stop.install()
    _log_to(log_stream or sys.stdout)
    runs.start(task_dir, pid=os.getpid())
    log.info("Task %s (%s) started.", task_dir.name, record.kind)
    try:
        result = resolve(record.entry)(context)
    except BaseException as err:
        if context.stop.requested:  # whatever the stop interrupted
            log.info("Task %s cancelled (%s).", task_dir.name, type(err).__name__)
            runs.finish(task_dir, "cancelled")
            return 0
        log.exception("Task %s failed", task_dir.name)
        runs.finish(task_dir, "failed", error=f"{type(err).__name__}: {err}")
        return 1
    task_folders.write_result(task_dir, result or {})
    state = "cancelled" if context.stop.requested else "succeeded"
    runs.finish(task_dir, state)
    log.info("Task %s %s.", task_dir.name, state)
    return 0


def _log_to(stream: TextIO) -> None:
    logger = logging.getLogger("fer_core")
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a library's root handler would print every line twice
