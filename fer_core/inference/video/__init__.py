"""Emotions over time: a video file scored frame by frame, or a live camera stream.

Both go through one step, :class:`FrameScorer`: a frame in, its faces found as the Predict page
finds them (``fer_core.data.faces``), each classified by the run's model with the app's
test-time augmentation, and the boxes and labels drawn. ``files`` reads and writes video files
with PyAV (the FFmpeg binding that streamlit-webrtc brings); ``live`` is the camera callback.

    from fer_core.inference.video import FrameScorer, score_video
    scorer = FrameScorer.from_runs([run_dir])
    result = score_video("clip.mp4", scorer, "out/", every=5)
    result.csv, result.video      # emotions over time, and the clip with the faces labelled
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
