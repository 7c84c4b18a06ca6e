"""Tiny background jobs for tests, and waiting on them: jobs run in other processes and report
through status.json."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.core.config import TrainConfig, preset


def tiny(**changes) -> TrainConfig:
    """fast-cpu for 1 epoch on 60 images per class: an epoch takes a second or two."""
    return preset("fast-cpu").replace(**{"subsample_per_class": 60, "epochs": 1, **changes})


def long_tiny() -> TrainConfig:
    """A tiny job with many epochs, to be cancelled or killed while it runs."""
    return tiny(epochs=200, early_stopping_patience=0)


def poll(run_dir: Path, until: Callable[[dict], bool], *, timeout: float,
         interval: float = 0.1) -> dict:
    """Re-read status.json until ``until(status)`` holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runs.read_status(run_dir)
        if until(status):
            return status
        time.sleep(interval)
    pytest.fail(f"{run_dir.name} never got there; status: {runs.read_status(run_dir)}")


def has_step_progress(status: dict) -> bool:
    """Running, with the training loop past its first step (the signal handler is in)."""
    step = (status.get("progress") or {}).get("step")
    return runs.effective_state(status) == "running" and bool(step)
