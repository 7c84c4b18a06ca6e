"""Video files and the live callback: a clip of demo faces scored end to end (engine and
command line), and every kind of bad input refused with a clear message and nothing left."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from fer_core import cli
from fer_core.core import settings
from fer_core.core.emotions import EMOTIONS
from fer_core.data import faces
from fer_core.inference.evaluation import load_run_model, predict_images
from fer_core.inference.video import (
    FaceClassifier,
    FrameScorer,
    VideoCancelled,
    VideoError,
    score_video,
)
from fer_core.inference.video.live import LiveAnnotator
from tests.video_support import FRAME_SIZE, face_clip, frame_with_face, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three detectable demo faces, four frames each, 10 frames/s, H.264."""
    return face_clip(tmp_path_factory.mktemp("clips") / "faces.mp4")


@pytest.fixture(scope="module")
def untrained_scorer() -> FrameScorer:
    """A fast-cpu-shaped model with untrained weights: enough where no frame gets scored."""
    from fer_core.training.models import build_model

    return FrameScorer(FaceClassifier([build_model("fer-cnn", num_classes=7).model], EMOTIONS))


def _decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _leftovers(folder: Path, *keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


# --- a clip end to end ---------------------------------------------------------------------------

@pytest.mark.slow
def test_score_video_demo_clip_matches_predict_and_writes_a_browser_playable_copy(
        clip, demo_run, tmp_path):
    scorer = FrameScorer.from_runs([demo_run])
    seen: list[float] = []

    result = score_video(clip, scorer, tmp_path / "out",
                         progress=lambda fraction, _: seen.append(fraction))

    table = pd.read_csv(result.csv)
    assert (result.frames_read, result.frames_scored, result.faces) == (12, 12, 12)
    assert list(table.columns) == ["time_s", "frame", "face", "x", "y", "w", "h", "label",
                                   *EMOTIONS]
    assert table["time_s"].tolist() == pytest.approx([i / 10 for i in range(12)])
    np.testing.assert_allclose(table[list(EMOTIONS)].sum(axis=1), 1.0, atol=1e-4)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    # The same numbers as the Predict page gives for the faces it finds in each frame.
    model = load_run_model(demo_run)
    for row, frame in zip(table.itertuples(), _decoded_frames(clip), strict=True):
        found = faces.detect(frame)
        assert (row.x, row.y, row.w, row.h) == tuple(found.boxes[0])
        _, proba = predict_images([demo_run], np.stack(found.crops), load_model=lambda _: model)
        np.testing.assert_allclose([getattr(row, c) for c in EMOTIONS], proba[0], atol=1e-4)
        assert row.label == EMOTIONS[int(proba[0].argmax())]
    with av.open(str(result.video)) as annotated:
        stream = annotated.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        drawn = [f.to_ndarray(format="rgb24") for f in annotated.decode(stream)]
    assert len(drawn) == 12 and drawn[0].shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)
    box = table.iloc[0]
    edge = drawn[0][box.y + box.h // 2, box.x:box.x + 3].astype(int)  # the box's left side
    original = _decoded_frames(clip)[0][box.y + box.h // 2, box.x:box.x + 3].astype(int)
    assert np.abs(edge - original).max() > 40
    assert _leftovers(tmp_path / "out") == ["faces-annotated.mp4", "faces-emotions.csv"]


def test_score_video_every_nth_frame_scores_only_those_and_writes_every_frame(
        clip, untrained_scorer, tmp_path):
    result = score_video(clip, untrained_scorer, tmp_path, every=5)

    assert (result.frames_read, result.frames_scored) == (12, 3)
    assert result.table()["frame"].tolist() == [0, 5, 10]
    assert len(_decoded_frames(result.video)) == 12


def test_score_video_cancelled_leaves_nothing(clip, untrained_scorer, tmp_path):
    calls = iter(range(100))

    with pytest.raises(VideoCancelled, match="cancelled; nothing was kept"):
        score_video(clip, untrained_scorer, tmp_path / "out", cancel=lambda: next(calls) >= 3)

    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_video_scores_a_clip_into_the_out_folder(clip, demo_run, tmp_path, capsys):
    status = cli.main(["video", str(demo_run), str(clip), "--out", str(tmp_path / "res"),
                       "--every", "2", "--json"])

    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (summary["frames_read"], summary["frames_scored"], summary["faces"]) == (12, 6, 6)
    assert sum(summary["labels"].values()) == 6
    assert len(pd.read_csv(summary["csv"])) == 6 and Path(summary["annotated"]).is_file()


def test_cli_video_not_a_video_prints_one_error_line_and_writes_nothing(demo_run_free_dir,
                                                                         tmp_path, capsys):
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video")

    status = cli.main(["video", str(demo_run_free_dir), str(notes), "--out",
                       str(tmp_path / "res")])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: notes.mp4 cannot be read as a video")
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "res").exists()


@pytest.fixture
def demo_run_free_dir(tmp_path) -> Path:
    """A run folder path for commands that must fail before the run is needed at all."""
    return tmp_path / "no-such-run"


# --- bad input -----------------------------------------------------------------------------------

def _not_a_video(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("meeting notes, not a video")
    return path


def _still_image(folder: Path) -> Path:
    from PIL import Image

    path = folder / "photo.mp4"
    Image.fromarray(frame_with_face(np.full((48, 48), 128, np.uint8))).save(path, format="PNG")
    return path


def _no_frames(folder: Path, suffix: str) -> Path:
    """A container whose video track never got a frame (a recording stopped at once)."""
    source = face_clip(folder / f"source.{suffix}", faces_in_clip=1, repeat=1,
                       codec="libx264" if suffix == "mp4" else "libvpx-vp9")
    path = folder / f"empty.{suffix}"
    with av.open(str(source)) as reader, av.open(str(path), "w") as writer:
        writer.add_stream_from_template(reader.streams.video[0])
        writer.start_encoding()
    source.unlink()
    return path


def _cut_off(folder: Path, suffix: str) -> Path:
    """A clip that stops half-way: a download or a recording broken off."""
    if suffix == "mp4":  # the index first, so the player gets as far as the data goes
        source = face_clip(folder / "whole.mp4", repeat=8, options={"movflags": "+faststart"})
    else:
        source = face_clip(folder / "whole.webm", repeat=8, codec="libvpx-vp9")
    data = source.read_bytes()
    source.unlink()
    path = folder / f"cut.{suffix}"
    path.write_bytes(data[:len(data) // 2])
    return path


def _four_k(folder: Path) -> Path:
    return write_clip(folder / "uhd.mp4", [np.zeros((2160, 3840, 3), np.uint8)])


def _eleven_minutes(folder: Path) -> Path:
    """Two frames 11 minutes apart: a long clip without encoding 11 minutes of frames."""
    path = folder / "long.mp4"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for pts in (0, 660):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


BAD_INPUT = {
    "not a video": (_not_a_video, "notes.mp4 cannot be read as a video"),
    "still image": (_still_image, "photo.mp4 is a still image, not a video"),
    "no frames mp4": (lambda d: _no_frames(d, "mp4"), "empty.mp4 holds no video frames"),
    "no frames webm": (lambda d: _no_frames(d, "webm"), "holds no video frames"),
    "cut off mp4": (lambda d: _cut_off(d, "mp4"), r"cut.mp4 is damaged at \d"),
    "cut off webm": (lambda d: _cut_off(d, "webm"), r"cut.webm stops after .* of its 2.4 sec"),
    "4K": (_four_k, "3840x2160: 4K and larger videos are refused"),
    "over 10 minutes": (_eleven_minutes, r"lasts 11.\d minutes; videos over 10 minutes"),
}


@pytest.mark.parametrize("kind", list(BAD_INPUT))
def test_score_video_bad_input_is_refused_clearly_and_leaves_nothing(kind, untrained_scorer,
                                                                      tmp_path):
    make, message = BAD_INPUT[kind]
    inputs = tmp_path / "in"
    inputs.mkdir()
    video = make(inputs)
    existing = tmp_path / "existing"  # a results folder the user had already: left as it was
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")

    for out in (tmp_path / "new", existing):
        with pytest.raises(VideoError, match=message):
            score_video(video, untrained_scorer, out)

    assert not (tmp_path / "new").exists()
    assert _leftovers(existing) == ["keep.txt"]
    assert _leftovers(inputs) == [video.name]


# --- the live callback ---------------------------------------------------------------------------

def test_live_annotator_draws_each_frame_and_keeps_a_rolling_history(untrained_scorer):
    from tests.video_support import detectable_faces

    ticks = iter(np.arange(0, 100, 10.0))  # 10 s between frames
    annotator = LiveAnnotator(untrained_scorer, history_seconds=25, clock=lambda: next(ticks))
    rgb = frame_with_face(detectable_faces(1)[0])
    frames = []
    for pts in range(5):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, Fraction(1, 30)
        frames.append(annotator(frame))

    assert annotator.frames == 5 and annotator.faces == 5
    assert [f.pts for f in frames] == list(range(5))
    drawn = frames[-1].to_ndarray(format="rgb24")
    assert drawn.shape == rgb.shape and np.abs(drawn.astype(int) - rgb).max() > 100
    history = annotator.history()
    assert list(history.columns) == ["time_s", *EMOTIONS]
    assert history["time_s"].tolist() == [20.0, 30.0, 40.0]  # only the last 25 s


def test_live_camera_uses_no_ice_server_unless_one_is_set(monkeypatch):
    monkeypatch.delenv("FER_ICE_SERVERS", raising=False)
    assert settings.ice_servers() == []

    monkeypatch.setenv("FER_ICE_SERVERS", "stun:stun.example.org:3478, turn:turn.example.org")
    assert settings.ice_servers() == [{"urls": ["stun:stun.example.org:3478",
                                                "turn:turn.example.org"]}]
