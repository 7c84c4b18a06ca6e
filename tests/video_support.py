"""Clips made from the synthetic demo faces, written with PyAV, for the video and live tests.

A demo face (48x48) is scaled up and pasted on a plain background, as a face in a webcam frame.
Haar finds only some drawn faces, so :func:`detectable_faces` keeps the ones it finds: a test
then knows how many faces each frame must yield.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from fer_core.data import faces
from fer_core.data.demo import draw_face

FRAME_SIZE = (320, 240)  # width, height
FACE_SIDE = 144
BACKGROUND = (96, 112, 104)


def frame_with_face(face: np.ndarray, size: tuple[int, int] = FRAME_SIZE,
                    side: int = FACE_SIDE) -> np.ndarray:
    """An RGB frame (H, W, 3) with the 48x48 face scaled to ``side`` pixels near its centre."""
    frame = Image.new("RGB", size, BACKGROUND)
    big = Image.fromarray(face).resize((side, side), Image.Resampling.BICUBIC).convert("RGB")
    frame.paste(big, ((size[0] - side) // 2, (size[1] - side) // 2))
    return np.asarray(frame)


def detectable_faces(count: int, *, seed: int = 0, size: tuple[int, int] = FRAME_SIZE,
                     side: int = FACE_SIDE) -> list[np.ndarray]:
    """``count`` demo faces that the Haar detector finds once pasted into a frame."""
    rng = np.random.default_rng(seed)
    emotions = ["happy", "sad", "angry", "neutral", "surprise", "fear", "disgust"]
    found: list[np.ndarray] = []
    for attempt in range(400):
        face = draw_face(emotions[attempt % len(emotions)], rng)
        if len(faces.find_faces(frame_with_face(face, size, side))) == 1:
            found.append(face)
            if len(found) == count:
                return found
    raise RuntimeError(f"only {len(found)} of {count} demo faces were detectable")


def write_clip(path: Path, frames: list[np.ndarray], *, fps: int = 10, codec: str = "libx264",
               options: dict[str, str] | None = None) -> Path:
    """Encode RGB frames into a video file with PyAV (mp4 or webm, from the suffix)."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as output:
        stream = output.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "10"}  # near-lossless: the detector sees the drawn face
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def face_clip(path: Path, *, faces_in_clip: int = 3, repeat: int = 4, fps: int = 10,
              **options) -> Path:
    """A clip of ``faces_in_clip`` detectable demo faces, each held for ``repeat`` frames."""
    frames = [frame_with_face(face) for face in detectable_faces(faces_in_clip)
              for _ in range(repeat)]
    return write_clip(path, frames, fps=fps, **options)


def face_y4m(path: Path, *, faces_in_clip: int = 3, repeat: int = 10,
             size: tuple[int, int] = (640, 480)) -> Path:
    """A raw .y4m clip of demo faces, the format Chromium's fake camera plays in a loop
    (``--use-file-for-fake-video-capture``)."""
    import av

    frames = [frame_with_face(face, size, side=200)
              for face in detectable_faces(faces_in_clip, size=size, side=200)
              for _ in range(repeat)]
    with av.open(str(path), "w", format="yuv4mpegpipe") as output:
        stream = output.add_stream("rawvideo", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path
