"""Predict's Video file and Live camera modes: Streamlit around ``fer_core.inference.video``.

A video file is probed at once (a bad file gets its message before anything is queued), then
scored as a job (``fer_core.tasks.video``): the web server never scores a video itself, and the
page finds the job's result again after a reload. The live camera goes through streamlit-webrtc,
with ICE servers from ``FER_ICE_SERVERS``: none by default, no STUN on the internet.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from fer_core.core import settings
from fer_core.core.errors import FerError
from fer_core.inference.video import MAX_SECONDS, FrameScorer, VideoError, probe
from fer_core.inference.video.live import DETECT_SIDE, LiveAnnotator
from fer_core.runs import task_folders
from fer_core.tasks import video as video_task
from ui import state, task_panel
from views.video_charts import timeline_chart

VIDEO_TYPES = ["mp4", "webm", "mov", "mkv"]
ANNOTATOR_KEY = "predict.live_annotator"

LoadModel = Callable[[Path], Any]


def render_video_file(run_dirs: list[Path], *, tta: bool, whole: bool) -> None:
    task = task_folders.latest(video_task.KIND, video_task.subject(run_dirs),
                               runs_root=state.runs_root())
    upload = st.file_uploader("Video", type=VIDEO_TYPES, key="predict.video")
    every = st.number_input("Score every n-th frame", min_value=1, max_value=300, value=1,
                            step=1, key="predict.every",
                            help="1 scores every frame; 5 scores one frame in five, five times "
                            "faster. Every frame of the labelled copy keeps the latest boxes.")
    if upload is None and task is None:
        st.info(f"Upload an mp4 or webm video (up to {MAX_SECONDS / 60:.0f} minutes, smaller "
                "than 4K).")
    elif upload is not None:
        _render_upload(upload, run_dirs, every=int(every), tta=tta, whole=whole,
                       busy=task_panel.busy(task))
    if task_panel.render(task, key="predict.video") == "succeeded":
        _render_result(task)


def _render_upload(upload: Any, run_dirs: list[Path], *, every: int, tta: bool, whole: bool,
                   busy: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fer-video-") as folder:
        source = Path(folder) / Path(upload.name).name
        source.write_bytes(upload.getvalue())
        try:
            info = probe(source)
        except VideoError as err:
            st.error(str(err))
            return
        seconds = f"{info.duration_s:.1f} s, " if info.duration_s else ""
        st.caption(f"{info.name}: {info.width}x{info.height}, {seconds}"
                   f"{float(info.fps):.3g} frames/s")
        if st.button("Score the video", type="primary", key="predict.video_start",
                     disabled=busy or settings.read_only(),
                     help="Runs as a job beside training (see Train > Jobs)."):
            task_panel.submit(video_task.KIND, lambda: video_task.spec(
                                  run_dirs, source, every=every, tta=tta, whole=whole),
                              subject=video_task.subject(run_dirs), inputs={source.name: source})


def _render_result(task: Path) -> None:
    result = task_folders.read_result(task) or {}
    if not result.get("csv"):
        return
    csv, video = Path(result["csv"]), Path(result["annotated"])
    st.success(f"{result['video']}: {result['frames_scored']:,} of {result['frames_read']:,} "
               f"frames scored, {result['faces']:,} faces, in {result['seconds']:.1f} s")
    table = pd.read_csv(csv)
    if table.empty:
        st.warning("No face was found in the scored frames. Faces need to be upright and "
                   "roughly frontal; for clips of face crops, turn on 'use the whole photo'.")
    else:
        st.altair_chart(timeline_chart(table), key="predict.video_timeline")
    st.video(video.read_bytes(), format="video/mp4")
    name = Path(result["video"]).stem
    left, right = st.columns(2)
    left.download_button("Emotions (CSV)", csv.read_bytes(), f"{name}-emotions.csv",
                         "text/csv", key="predict.video_csv")
    right.download_button("Labelled video (MP4, H.264)", video.read_bytes(),
                          f"{name}-annotated.mp4", "video/mp4", key="predict.video_mp4")


def render_live(run_dirs: list[Path], *, tta: bool, whole: bool, load_model: LoadModel) -> None:
    # pylibsrtp (under aiortc) segfaults when first imported after TensorFlow: app.py and the
    # Predict page import streamlit_webrtc before anything else, so this import is a lookup.
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    annotator = _annotator(run_dirs, tta=tta, whole=whole, load_model=load_model)
    if annotator is None:
        return
    st.caption("Press Start and allow the camera. Each frame is sent to this server, where "
               "faces are found, classified and drawn; a camera on another machine needs the "
               "app served over HTTPS.")
    ctx = webrtc_streamer(
        key="predict.live", mode=WebRtcMode.SENDRECV, video_frame_callback=annotator,
        rtc_configuration={"iceServers": settings.ice_servers()},
        # 640x480 is plenty for 48x48 faces, and HD frames would cost four times the work.
        media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}},
                                  "audio": False},
    )

    @st.fragment(run_every=1.0 if ctx.state.playing else None)
    def rolling_chart() -> None:
        history = annotator.history()
        st.caption(f"{annotator.frames:,} frames scored, {annotator.faces:,} faces, "
                   f"{annotator.ms_per_frame:.0f} ms per frame")
        if not history.empty:
            st.altair_chart(timeline_chart(history, title="Emotions, last 30 s"),
                            key="predict.live_timeline")

    rolling_chart()


def _annotator(run_dirs: list[Path], *, tta: bool, whole: bool,
               load_model: LoadModel) -> LiveAnnotator | None:
    """This session's annotator, rebuilt only when the runs or options change."""
    key = (tuple(str(r) for r in run_dirs), tta, whole)
    kept = st.session_state.get(ANNOTATOR_KEY)
    if kept is not None and kept[0] == key:
        return kept[1]
    try:
        scorer = FrameScorer.from_runs(run_dirs, tta=tta, whole_if_none=whole,
                                       detect_side=DETECT_SIDE, load_model=load_model)
    except FerError as err:
        st.error(str(err))
        return None
    annotator = LiveAnnotator(scorer)
    st.session_state[ANNOTATOR_KEY] = (key, annotator)
    return annotator
