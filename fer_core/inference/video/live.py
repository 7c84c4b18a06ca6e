"""The live camera's frame callback: every frame detected, classified and drawn, and a rolling
record of the emotions for the page's chart.

streamlit-webrtc calls :class:`LiveAnnotator` from a worker thread of its own. Nothing here
imports streamlit-webrtc or aiortc, so ``bench/live.py`` calls the very same object on
synthetic frames to measure frames per second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import pandas as pd

from fer_core.inference.video.scorer import FrameScorer, annotate

HISTORY_SECONDS = 30.0  # what the rolling chart shows
# Camera frames are shrunk to this longest side for face detection: a face in a webcam frame is
# large, and detection (most of each frame's time) runs about three times faster than at 640.
DETECT_SIDE = 320


class LiveAnnotator:
    """A ``video_frame_callback``: frame in, frame with boxes and labels out. The page reads
    :meth:`history` and :attr:`frames` from another thread while frames arrive, so both go
    through a lock held only to copy a few rows."""

    def __init__(self, scorer: FrameScorer, *, history_seconds: float = HISTORY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.scorer = scorer
        self.history_seconds = history_seconds
        self._clock = clock
        self._started: float | None = None
        self._rows: deque[tuple[float, tuple[float, ...]]] = deque()
        self._lock = threading.Lock()
        self.frames = 0  # frames seen since the stream started
        self.faces = 0  # faces seen since the stream started
        self.busy_s = 0.0  # time spent in the callback: what limits the frame rate

    @property
    def ms_per_frame(self) -> float:
        return 1000 * self.busy_s / self.frames if self.frames else 0.0

    def __call__(self, frame):
        import av

        begun = time.perf_counter()
        rgb = frame.to_ndarray(format="rgb24")
        scores = self.scorer.score(rgb)
        out = av.VideoFrame.from_ndarray(annotate(rgb, scores, self.scorer.classes),
                                         format="rgb24")
        out.pts = frame.pts
        if frame.time_base is not None:
            out.time_base = frame.time_base
        now = self._clock()
        with self._lock:
            self._started = now if self._started is None else self._started
            self.frames += 1
            self.faces += len(scores)
            self.busy_s += time.perf_counter() - begun
            if scores:  # the largest face, as the chart follows one person
                self._rows.append((now - self._started,
                                   tuple(float(p) for p in scores[0].probabilities)))
            while self._rows and self._rows[0][0] < now - self._started - self.history_seconds:
                self._rows.popleft()
        return out

    def history(self) -> pd.DataFrame:
        """The last ``history_seconds`` of the largest face: time_s and one column per class."""
        with self._lock:
            rows = list(self._rows)
        return pd.DataFrame([(t, *p) for t, p in rows],
                            columns=["time_s", *self.scorer.classes])
