"""Predict's Video file mode, run with AppTest in this process (where TensorFlow is loaded
first: the page must still import streamlit-webrtc without crashing).

The Live camera mode needs Streamlit's real server (streamlit-webrtc reaches into its session
manager, which AppTest does not have): tests/test_browser_live.py drives it in Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from fer_core import tasks
from fer_core.core.emotions import EMOTIONS
from fer_core.runs import task_folders
from fer_core.tasks import video as video_task
from tests.page_support import open_page
from tests.video_support import face_clip


@pytest.fixture
def runs_root(tmp_path: Path, demo_run: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    return root


def _app(runs_root: Path, mode: str) -> AppTest:
    return open_page("predict", runs_root, timeout=90, **{"predict.mode": mode})


def _chart_data(at: AppTest, name: str) -> list[pd.DataFrame]:
    """The data of each chart tagged ``name``, as Streamlit sends it (Arrow) to the browser."""
    frames = []
    for node in at.get("vega_lite_chart"):
        if json.loads(node.proto.spec).get("usermeta", {}).get("fer_chart") == name:
            [dataset] = node.proto.datasets
            frames.append(pa.ipc.open_stream(dataset.data.data).read_all().to_pandas())
    return frames


@pytest.mark.slow
def test_video_mode_scores_an_upload_and_offers_chart_video_and_downloads(runs_root, tmp_path):
    clip = face_clip(tmp_path / "faces.mp4")
    at = _app(runs_root, "Video file").run()
    assert not at.exception
    at.file_uploader(key="predict.video").set_value(("faces.mp4", clip.read_bytes(),
                                                     "video/mp4"))
    at.number_input(key="predict.every").set_value(2)
    at.run()
    assert not at.exception and not at.error
    assert "faces.mp4: 320x240, 1.2 s, 10 frames/s" in [c.value for c in at.caption]

    at.button(key="predict.video_start").click()
    at.run()
    assert not at.exception and not at.error
    task = task_folders.latest("video", video_task.subject([runs_root / demo_run_id(runs_root)]),
                               runs_root=runs_root)
    assert task is not None  # scored as a job, in its own process
    assert tasks.wait(task, timeout=300) == "succeeded"
    at.run()

    assert not at.exception and not at.error
    assert "6 of 12 frames scored, 6 faces" in at.success[0].value
    [points] = _chart_data(at, "emotion_timeline")
    assert len(points) == 6 * 7  # six scored frames, seven emotions
    assert set(points["emotion"]) == set(EMOTIONS)
    assert len(at.get("video")) == 1
    assert len(at.get("download_button")) == 2

    at.run()  # a rerun shows the job's results without scoring again
    assert len(_chart_data(at, "emotion_timeline")) == 1
    assert task_folders.task_folders(runs_root) == [task]


def demo_run_id(runs_root: Path) -> str:
    [run] = [p.name for p in runs_root.iterdir() if not p.name.startswith(".")]
    return run


def test_video_mode_upload_that_is_not_a_video_shows_an_error(runs_root):
    at = _app(runs_root, "Video file").run()
    at.file_uploader(key="predict.video").set_value(("notes.mp4", b"notes, not a video",
                                                     "video/mp4"))
    at.run()

    assert not at.exception
    assert "notes.mp4 cannot be read as a video" in at.error[0].value
    assert not [b for b in at.button if b.key == "predict.video_start"]
