"""Emotions over time: a video file scored frame by frame, or a live camera stream.

Both go through one step, :class:`FrameScorer` (``scorer``); ``files`` reads and writes video
files with PyAV (the FFmpeg binding that streamlit-webrtc brings); ``live`` is the camera
callback.
"""

from fer_core.inference.video.files import (
    MAX_SECONDS,
    MAX_SIDE,
    VideoCancelled,
    VideoError,
    VideoInfo,
    VideoResult,
    probe,
    score_video,
)
from fer_core.inference.video.scorer import FaceClassifier, FaceScore, FrameScorer, annotate

__all__ = [
    "MAX_SECONDS", "MAX_SIDE", "FaceClassifier", "FaceScore", "FrameScorer", "VideoCancelled",
    "VideoError", "VideoInfo", "VideoResult", "annotate", "probe", "score_video",
]
