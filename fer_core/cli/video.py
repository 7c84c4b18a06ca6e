"""``python -m fer_core video RUN_DIR clip.mp4 --out DIR``: the Video file mode of Predict, from
a terminal. Progress goes to stderr (a line per 10%), the summary to stdout."""

from __future__ import annotations

import argparse
import json
import sys

from fer_core.inference.video.files import VideoResult, probe, score_video
from fer_core.inference.video.scorer import FrameScorer


def score_from_command_line(args: argparse.Namespace) -> VideoResult:
    probe(args.video)  # a bad video is refused before the model loads
    scorer = FrameScorer.from_runs([args.run_dir], tta=args.tta, whole_if_none=args.whole)
    shown = [-1]

    def progress(fraction: float, message: str) -> None:
        if int(fraction * 10) > shown[0]:
            shown[0] = int(fraction * 10)
            print(f"{fraction:4.0%}  {message}", file=sys.stderr, flush=True)

    result = score_video(args.video, scorer, args.out, every=args.every, progress=progress)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['video']}: {summary['frames_scored']:,} of {summary['frames_read']:,} "
              f"frames scored, {summary['faces']:,} faces, in {summary['seconds']:.1f} s")
        if summary["labels"]:
            print("  " + ", ".join(f"{k} {v}" for k, v in summary["labels"].items()))
        print(f"  {summary['csv']}\n  {summary['annotated']}")
    return result
