"""Live camera speed: frames per second through the very callback the webrtc stream uses.

    python -m bench.live                    # 300 frames, test-time augmentation off and on
    python -m bench.live --frames 600

A synthetic 640x480 stream: demo faces (``fer_core.data.demo``) scaled to about 200 pixels and
pasted at a position that moves every frame, on a plain background. Every frame goes through
``LiveAnnotator`` (what ``streamlit-webrtc`` calls): converted from ``av.VideoFrame``, faces
freshly detected, classified, drawn, converted back. No frame is skipped or reused. The model
has the ``fast-cpu`` preset's architecture with untrained weights: speed does not depend on
what the weights are. Prints a markdown table with the machine and its load average (a machine
shared with other work runs slower than the same machine idle).
"""

from __future__ import annotations

import argparse
import os
import time
from fractions import Fraction

import numpy as np
from PIL import Image

from bench.machine import describe_machine

WIDTH, HEIGHT = 640, 480
FACE_SIDE = 200


def synthetic_stream(count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` distinct 640x480 RGB frames, each with one demo face at its own position."""
    from fer_core.core.emotions import EMOTIONS
    from fer_core.data.demo import draw_face

    rng = np.random.default_rng(seed)
    faces: list[np.ndarray] = []
    while len(faces) < len(EMOTIONS):  # faces the detector finds: each frame has work to do
        face = draw_face(EMOTIONS[len(faces)], rng)
        if _found(_frame(face, 220, 140)):
            faces.append(face)
    return [_frame(faces[index % len(faces)],
                   40 + (index * 7) % (WIDTH - FACE_SIDE - 80),  # the face drifts across
                   60 + (index * 3) % (HEIGHT - FACE_SIDE - 120)) for index in range(count)]


def _frame(face: np.ndarray, left: int, top: int) -> np.ndarray:
    frame = Image.new("RGB", (WIDTH, HEIGHT), (96, 112, 104))
    big = Image.fromarray(face).resize((FACE_SIDE, FACE_SIDE), Image.Resampling.BICUBIC)
    frame.paste(big.convert("RGB"), (left, top))
    return np.asarray(frame)


def _found(rgb: np.ndarray) -> bool:
    from fer_core.data import faces
    from fer_core.inference.video.live import DETECT_SIDE

    return bool(faces.find_faces(rgb, detect_side=DETECT_SIDE))


def annotator(*, tta: bool):
    """The live callback over a fast-cpu-shaped model, as the Predict page builds it."""
    from fer_core.core.config import preset
    from fer_core.core.emotions import EMOTIONS
    from fer_core.inference.video import FaceClassifier, FrameScorer
    from fer_core.inference.video.live import DETECT_SIDE, LiveAnnotator
    from fer_core.training.models import build_model

    config = preset("fast-cpu")
    model = build_model(config.backbone, num_classes=len(EMOTIONS), dropout=config.dropout).model
    classifier = FaceClassifier([model], EMOTIONS, tta=tta,
                                shifts=[config.tta_shift if tta else 0])
    return LiveAnnotator(FrameScorer(classifier, detect_side=DETECT_SIDE))


def measure(frames: list[np.ndarray], *, tta: bool) -> dict[str, float]:
    """Frames per second through the callback, and the share of frames with a face found."""
    import av

    callback = annotator(tta=tta)
    video_frames = []
    for index, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, 30)
        video_frames.append(frame)
    callback(video_frames[0])  # warm-up: the first call builds TensorFlow's graph
    start = time.perf_counter()
    for frame in video_frames:
        callback(frame)
    seconds = time.perf_counter() - start
    return {"fps": len(frames) / seconds, "ms": 1000 * seconds / len(frames),
            "faces": (callback.faces - 1) / len(frames)}


def detection_ms(frames: list[np.ndarray]) -> float:
    """Milliseconds per frame of face detection alone, the larger part of the work."""
    from fer_core.data import faces
    from fer_core.inference.video.live import DETECT_SIDE

    start = time.perf_counter()
    for rgb in frames:
        faces.detect(rgb, detect_side=DETECT_SIDE)
    return 1000 * (time.perf_counter() - start) / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    frames = synthetic_stream(args.frames)
    print(f"Host: {describe_machine()}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"Stream: {args.frames} distinct {WIDTH}x{HEIGHT} frames, one face each, every frame "
          "detected and classified\n")
    print("| test-time augmentation | frames/s | ms/frame | frames with a face found |")
    print("| --- | ---: | ---: | ---: |")
    for tta in (False, True):
        result = measure(frames, tta=tta)
        label = "on (ten views)" if tta else "off (the page's default)"
        print(f"| {label} | {result['fps']:.1f} | {result['ms']:.1f} | {result['faces']:.0%} |")
    print(f"\nFace detection alone: {detection_ms(frames[:100]):.1f} ms/frame; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
