"""The web server never converts a model or scores a video: driven in Chromium, the Export
tab and Predict's video input start tasks and follow them while the page polls, and the
server's own CPU time (from /proc) stays under 5% of a core between the click and the result.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.runs import task_folders
from tests import browser_support as bs
from tests.video_support import face_clip

expect = bs.require_browser()
pytestmark = pytest.mark.slow

MAX_SERVER_SHARE = 0.05  # of one core
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process itself (/proc/PID/stat). Not its children's:
    the server starts the queue's worker, and when it reaps a worker that has ended, that
    worker's whole CPU time (and its tasks') would count as the server's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = (int(v) for v in fields[11:13])
    return (utime + stime) / TICKS


class ServerMeter:
    """The server's CPU time over a stretch of wall time, as a share of one core."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu, self.wall = cpu_seconds(pid), time.monotonic()

    def share(self) -> float:
        return (cpu_seconds(self.pid) - self.cpu) / (time.monotonic() - self.wall)


def run_outside_the_server(app: bs.AppServer, kind: str, subject: str, start, result
                           ) -> Path:
    """Click ``start``, wait for ``result`` to show, and check that the task ran in another
    process while the server spent under 5% of a core, from the click to the result and while
    the page followed the task; the task's folder. (The Export tab is a fragment, so neither the
    click nor the result reruns the whole Results page, about 0.25 s each.)"""
    meter = ServerMeter(app.process.pid)
    start.click()
    while (task := task_folders.latest(kind, subject, runs_root=app.runs_dir)) is None or \
            runs.read_status(task).state == "queued":
        time.sleep(0.05)
    following = ServerMeter(app.process.pid)  # the task runs; the page polls its status
    while runs.read_status(task).state == "running":
        time.sleep(0.05)
    share = following.share()
    expect(result).to_be_visible(timeout=600 * bs.MS)
    whole, status = meter.share(), runs.read_status(task)
    print(f"{kind}: server {whole:.1%} of a core from the click to the result, "
          f"{share:.1%} while it ran; task pid {status.pid}")
    assert status.state == "succeeded" and status.pid != app.process.pid
    assert share < MAX_SERVER_SHARE and whole < MAX_SERVER_SHARE
    return task


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bs.AppServer]:
    with bs.running_app(tmp_path_factory.mktemp("tasks-browser")) as server:
        yield server


@pytest.fixture
def page(app: bs.AppServer) -> Iterator:
    with bs.chromium() as browser, bs.new_page(browser) as tab:
        yield tab


def test_export_of_every_format_runs_outside_the_server(app: bs.AppServer, page, demo_run):
    run = Path(shutil.copytree(demo_run, app.runs_dir / demo_run.name))
    bs.open_app(page, f"{app.url}/results?runs={run.name}&tab=Export")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("combobox", name="Format")).to_have_value("all four")
    task = run_outside_the_server(
        app, "export", run.name, main.get_by_role("button", name="Export", exact=True),
        # the export table is there: the job ended and the page reran
        main.get_by_role("button", name="Export folder (.zip)"))
    assert {e["format"] for e in task_folders.read_result(task)["entries"]} == {
        "savedmodel", "onnx", "tflite", "tflite-int8"}


def test_video_is_scored_outside_the_server(app: bs.AppServer, page, demo_run, tmp_path):
    run = app.runs_dir / demo_run.name
    if not run.exists():
        shutil.copytree(demo_run, run)
    clip = face_clip(tmp_path / "faces.mp4")
    bs.open_app(page, f"{app.url}/predict")
    main = page.get_by_test_id("stMain")
    page.get_by_test_id("stButtonGroup").get_by_text("Video file").click(timeout=90 * bs.MS)
    expect(main.get_by_text("Upload an mp4 or webm video")).to_be_visible(timeout=60 * bs.MS)
    bs.wait_for_run(page)
    main.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(clip))
    expect(main.get_by_text("faces.mp4: 320x240")).to_be_visible(timeout=60 * bs.MS)
    run_outside_the_server(app, "video", run.name,
                           main.get_by_role("button", name="Score the video"),
                           main.get_by_text("frames scored"))
