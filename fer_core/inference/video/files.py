"""Score a video file: every frame or every n-th, to a CSV of emotions over time and a copy of
the clip with the faces boxed and labelled.

PyAV (FFmpeg) reads any format FFmpeg knows and writes H.264 through libx264, which the PyAV
wheels ship and every browser plays (OpenCV's wheel writes only mp4v, which browsers do not).
The mp4 is written with ``+faststart`` so a browser starts playing before it has all of it.

What a user can get wrong gets a :class:`VideoError` that says what to do, and leaves nothing
behind: results are written into a hidden temporary folder inside ``out_dir`` and moved into
place only when the whole clip was read, so a refused, cut-off, failed or cancelled clip adds no
file, and a folder made for it is removed again.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core.core import atomic
from fer_core.core.errors import FerError
from fer_core.inference.video.scorer import FaceScore, FrameScorer, annotate

MAX_SIDE = 3840  # 4K UHD's long side: a clip this large or larger is refused
MAX_SECONDS = 600.0  # ten minutes
DEFAULT_FPS = Fraction(25)  # for a stream that states no frame rate
ENCODER = "libx264"
CSV_SUFFIX = "-emotions.csv"
VIDEO_SUFFIX = "-annotated.mp4"
_CUT_OFF_SLACK = 0.9  # a clip whose frames end before 90% of its stated length was cut off

Progress = Callable[[float, str], None]


class VideoError(FerError):
    """A video cannot be read, is beyond the limits, or stopped before its end."""


class VideoCancelled(VideoError):
    """Scoring was cancelled; nothing was written."""


@dataclass(frozen=True)
class VideoInfo:
    """What a clip's container says about its video track."""

    name: str
    width: int
    height: int
    fps: Fraction
    duration_s: float | None  # None: the container does not say
    frames: int | None  # None: the container does not say

    @property
    def expected_frames(self) -> int | None:
        if self.frames:
            return self.frames
        return round(self.duration_s * float(self.fps)) if self.duration_s else None


@dataclass(frozen=True)
class VideoResult:
    """Where the results went and what was seen."""

    info: VideoInfo
    csv: Path
    video: Path
    frames_read: int
    frames_scored: int
    faces: int
    seconds: float  # wall time of the scoring

    def table(self) -> pd.DataFrame:
        return pd.read_csv(self.csv)

    def summary(self) -> dict[str, Any]:
        """What the command prints and the video task records: counts, the labels seen, the
        two files."""
        labels = self.table()["label"].value_counts()
        return {"video": self.info.name, "frames_read": self.frames_read,
                "frames_scored": self.frames_scored, "faces": self.faces,
                "labels": {str(k): int(v) for k, v in labels.items()},
                "seconds": round(self.seconds, 2), "csv": str(self.csv),
                "annotated": str(self.video)}


# --- reading -------------------------------------------------------------------------------------

def _open(path: Path, name: str):
    """The container and its video stream, or a VideoError that says why not."""
    import av

    if not path.is_file():
        raise VideoError(f"{name} does not exist.")
    if path.stat().st_size == 0:
        raise VideoError(f"{name} is empty. Choose an mp4 or webm video.")
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise VideoError(f"{name} ends before its first frame: it holds no video frames, or it "
                         "is cut off. Choose a video with something in it.") from None
    except av.FFmpegError as err:
        raise VideoError(f"{name} cannot be read as a video ({_brief(err)}): it is not a video, "
                         "or it is damaged or cut off. Choose an mp4 or webm video.") from None
    if container.format.name.endswith("_pipe") or container.format.name == "image2":
        container.close()
        raise VideoError(f"{name} is a still image, not a video: classify it under Photos.")
    if not container.streams:
        container.close()
        raise VideoError(f"{name} holds no video frames (an empty recording?); nothing to score.")
    if not container.streams.video:
        container.close()
        raise VideoError(f"{name} holds no video track (only sound or data); choose a video.")
    return container, container.streams.video[0]


def _info(container, stream, name: str) -> VideoInfo:
    import av

    rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
    if stream.duration is not None and stream.time_base is not None:
        duration: float | None = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = None
    return VideoInfo(name, int(stream.codec_context.width), int(stream.codec_context.height),
                     Fraction(rate), duration, int(stream.frames) or None)


def _check_limits(info: VideoInfo) -> None:
    if max(info.width, info.height) >= MAX_SIDE:
        raise VideoError(f"{info.name} is {info.width}x{info.height}: 4K and larger videos are "
                         f"refused (longest side under {MAX_SIDE} pixels). Scale it down, e.g. "
                         "ffmpeg -i in.mp4 -vf scale=-2:1080 out.mp4.")
    if info.duration_s is not None and info.duration_s > MAX_SECONDS:
        raise _too_long(info.name, info.duration_s)


def _too_long(name: str, seconds: float) -> VideoError:
    return VideoError(f"{name} lasts {seconds / 60:.1f} minutes; videos over "
                      f"{MAX_SECONDS / 60:.0f} minutes are refused. Cut it into shorter parts.")


def probe(path: str | Path, *, name: str | None = None) -> VideoInfo:
    """Open a clip, check it is a video within the limits, and say what it holds."""
    path = Path(path)
    name = name or path.name
    container, stream = _open(path, name)
    with container:
        info = _info(container, stream, name)
    _check_limits(info)
    return info


# --- scoring -------------------------------------------------------------------------------------

def score_video(path: str | Path, scorer: FrameScorer, out_dir: str | Path, *, every: int = 1,
                name: str | None = None, progress: Progress | None = None,
                cancel: Callable[[], bool] | None = None) -> VideoResult:
    """Score every ``every``-th frame of a clip into ``out_dir``: ``<stem>-emotions.csv`` (one
    row per face of each scored frame) and ``<stem>-annotated.mp4`` (every frame, with the
    boxes of the latest scored frame). ``progress(fraction, message)`` is called as frames are
    read; ``cancel()`` returning true stops the work (:class:`VideoCancelled`)."""
    if every < 1:
        raise VideoError(f"every must be 1 (every frame) or more; got {every}.")
    path, out_dir = Path(path), Path(out_dir)
    name = name or path.name
    container, stream = _open(path, name)
    made_out_dir = not out_dir.exists()
    work = None
    try:
        with container:
            info = _info(container, stream, name)
            _check_limits(info)
            work = atomic.temp_dir(out_dir, ".scoring-")
            stem = Path(name).stem or "video"
            csv, video = work / f"{stem}{CSV_SUFFIX}", work / f"{stem}{VIDEO_SUFFIX}"
            counts, rows, seconds = _score_frames(container, stream, info, scorer, video,
                                                  every=every, progress=progress, cancel=cancel)
            _table(rows, scorer.classes).to_csv(csv, index=False)
        final = []
        for part in (csv, video):
            os.replace(part, out_dir / part.name)
            final.append(out_dir / part.name)
        return VideoResult(info, final[0], final[1], counts[0], counts[1], len(rows), seconds)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if made_out_dir and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()


def _score_frames(container, stream, info: VideoInfo, scorer: FrameScorer, video: Path, *,
                  every: int, progress: Progress | None, cancel: Callable[[], bool] | None,
                  ) -> tuple[tuple[int, int], list[tuple[float, int, int, FaceScore]], float]:
    """Decode, score, draw and encode; (frames read, frames scored), the face rows, seconds."""
    import av

    started = time.perf_counter()
    expected = info.expected_frames
    rows: list[tuple[float, int, int, FaceScore]] = []
    read = scored = 0
    last_time = 0.0
    latest: list[FaceScore] = []
    reported = -1.0
    with av.open(str(video), "w", options={"movflags": "+faststart"}) as output:
        encoder = _encoder(output, info)
        try:
            for frame in container.decode(stream):
                if cancel is not None and cancel():
                    raise VideoCancelled(f"Scoring {info.name} was cancelled; nothing was kept.")
                last_time = float(frame.time) if frame.time is not None else read / float(info.fps)
                if last_time > MAX_SECONDS:
                    raise _too_long(info.name, last_time)
                rgb = frame.to_ndarray(format="rgb24")
                if read % every == 0:
                    latest = scorer.score(rgb)
                    rows += [(last_time, read, i, face) for i, face in enumerate(latest, 1)]
                    scored += 1
                _encode(output, encoder, annotate(rgb, latest, scorer.classes), read)
                read += 1
                if progress is not None and expected:
                    fraction = min(read / expected, 1.0)
                    if fraction - reported >= 0.01:
                        reported = fraction
                        progress(fraction, f"{read:,} of about {expected:,} frames, "
                                           f"{len(rows):,} faces")
        except av.FFmpegError as err:
            raise VideoError(f"{info.name} is damaged at {last_time:.1f} s ({_brief(err)}); "
                             "nothing was kept. Re-export or re-download the video.") from None
        _check_complete(info, read, last_time)
        for packet in encoder.encode(None):  # flush the encoder's delayed frames
            output.mux(packet)
    if progress is not None:
        progress(1.0, f"{read:,} frames, {len(rows):,} faces")
    return (read, scored), rows, time.perf_counter() - started


def _check_complete(info: VideoInfo, read: int, last_time: float) -> None:
    """A clip whose frames end well before its container says it does was cut off."""
    if read == 0:
        raise VideoError(f"{info.name} has a video track with no frames in it; nothing to score.")
    stated = [(info.frames, read, "frames"),
              (info.duration_s, last_time + 1 / float(info.fps), "seconds")]
    for total, seen, unit in stated:
        if total and seen < total * _CUT_OFF_SLACK:
            raise VideoError(
                f"{info.name} stops after {seen:,.1f} of its {total:,.1f} {unit}: the file is "
                "cut off or damaged, and nothing was kept. Re-export or re-download it.")


def _encoder(output, info: VideoInfo):
    """An H.264 stream (yuv420p, even sides, as browsers and libx264 need)."""
    stream = output.add_stream(ENCODER, rate=info.fps)
    stream.width, stream.height = info.width // 2 * 2, info.height // 2 * 2
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "veryfast", "crf": "23"}
    return stream


def _encode(output, stream, rgb: np.ndarray, index: int) -> None:
    import av

    frame = av.VideoFrame.from_ndarray(rgb[:stream.height, :stream.width], format="rgb24")
    frame.pts = index
    frame.time_base = 1 / Fraction(stream.codec_context.framerate or DEFAULT_FPS)
    for packet in stream.encode(frame):
        output.mux(packet)


def _table(rows: list[tuple[float, int, int, FaceScore]], classes: tuple[str, ...],
           ) -> pd.DataFrame:
    columns = ["time_s", "frame", "face", "x", "y", "w", "h", "label", *classes]
    records = [[round(t, 3), frame, face, *score.box, score.label(classes),
                *np.round(score.probabilities, 5)]
               for t, frame, face, score in rows]
    return pd.DataFrame(records, columns=columns)


def _brief(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.strip().rstrip(".")[:160]
