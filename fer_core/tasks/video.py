"""The ``video`` task: a clip scored frame by frame with one or more runs' models.

The uploaded clip is copied into the task folder, so it reaches a Ray worker with the task; the
emotions CSV and the labelled MP4 are written into the task folder's ``out/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_core.inference.video.files import probe, score_video
from fer_core.inference.video.scorer import FrameScorer
from fer_core.tasks.runner import TaskContext

KIND = "video"
OUT = "out"


def spec(run_dirs: list[Path], video: Path, *, every: int = 1, tta: bool = False,
         whole: bool = False) -> dict[str, Any]:
    """What the task is asked; a clip that cannot be read is refused before it is queued."""
    probe(video)
    return {"run_dirs": [str(Path(r).resolve()) for r in run_dirs], "video": Path(video).name,
            "every": int(every), "tta": bool(tta), "whole": bool(whole)}


def subject(run_dirs: list[Path]) -> str:
    """What a video job is about, so Predict finds the latest one of the chosen model(s)."""
    return ",".join(sorted(Path(r).name for r in run_dirs))


def run_task(ctx: TaskContext) -> dict[str, Any]:
    spec = ctx.spec
    ctx.progress(0.0, "Loading the model")
    scorer = FrameScorer.from_runs([Path(r) for r in spec["run_dirs"]], tta=spec["tta"],
                                   whole_if_none=spec["whole"])
    result = score_video(ctx.input(spec["video"]), scorer, ctx.task_dir / OUT,
                         every=spec["every"], progress=ctx.progress,
                         cancel=lambda: ctx.stop.requested)  # a stop ends it between frames
    return result.summary()
