"""The ``estimate`` task: how long a config trains, timed where its job will run.

It times a few training steps where the training job would run (a Ray worker, when jobs go to
Ray), and says when a training job was running beside it, since a shared CPU times slower.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from fer_core.core.config import TrainConfig
from fer_core.core.errors import RunError
from fer_core.data import DataRef
from fer_core.tasks.local import heavy_job_running, runs_root_of
from fer_core.tasks.runner import TaskContext
from fer_core.training import speed

KIND = "estimate"


def spec(config: TrainConfig) -> dict[str, Any]:
    if not speed.speed_keys(config):
        raise RunError("Nothing to estimate: the config has no epochs in either phase.")
    return {"config": config.to_dict()}


def subject(config: TrainConfig, backend: str) -> str:
    """What an estimate is about: the config as it would be launched, and where."""
    text = json.dumps({"config": config.to_dict(), "backend": backend}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def run_task(ctx: TaskContext) -> dict[str, Any]:
    config = TrainConfig.from_dict(ctx.spec["config"])
    busy = heavy_job_running(runs_root_of(ctx.task_dir))
    ctx.progress(0.1, "Timing a few training steps" + (" beside a training job" if busy else ""))
    result = speed.estimate_config(config, DataRef.parse(config.data).load())
    if result is None:
        raise RunError("Nothing to estimate: the config has no epochs in either phase.")
    return {**asdict(result), "text": speed.describe(result),
            "beside_training": busy or heavy_job_running(runs_root_of(ctx.task_dir))}

