"""The live camera in a real browser: Chromium's fake camera plays a clip of demo faces into
Predict's Live camera mode, over WebRTC to the app's own server (no STUN server anywhere), and
the page reports frames scored, faces found and the rolling chart."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import browser_support as bs
from tests.video_support import face_y4m

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

expect = bs.require_browser()  # skips the module without Chromium or Playwright

pytestmark = pytest.mark.slow
MS = bs.MS


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_y4m(tmp_path_factory.mktemp("camera") / "faces.y4m")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, demo_run: Path) -> Iterator[bs.AppServer]:
    with bs.running_app(tmp_path_factory.mktemp("browser-live")) as server:
        shutil.copytree(demo_run, server.runs_dir / demo_run.name)
        yield server


@pytest.fixture
def page(camera_clip: Path) -> Iterator[Page]:
    """A Chromium whose camera is the clip, with the permission prompt answered yes."""
    from playwright.sync_api import sync_playwright

    args = [*bs.CHROMIUM_ARGS, "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={camera_clip}"]
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=str(bs.CHROMIUM),
                                                      headless=True, args=args)
        try:
            with bs.new_page(browser) as tab:
                yield tab
        finally:
            browser.close()


def test_live_camera_labels_faces_and_updates_the_rolling_chart(app, page):
    bs.open_app(page, app.url)
    bs.go_to(page, "Predict")
    page.get_by_test_id("stButtonGroup").get_by_text("Live camera").click(timeout=90 * MS)
    bs.wait_for_run(page)
    counter = page.get_by_text(re.compile(r"^[\d,]+ frames scored, "))
    expect(counter).to_have_text(re.compile("^0 frames scored, 0 faces"), timeout=60 * MS)

    webrtc = page.frame_locator("iframe[title*='streamlit_webrtc']")
    webrtc.get_by_role("button", name=re.compile("start", re.IGNORECASE)).click()

    # Frames reach the server's callback, faces are found in them and the fragment redraws.
    expect(counter).to_have_text(re.compile(r"^[1-9][\d,]* frames scored, [1-9][\d,]* faces, "),
                                 timeout=120 * MS)
    first = int(counter.inner_text().split()[0].replace(",", ""))
    expect(counter).not_to_have_text(re.compile(rf"^{first:,} frames"), timeout=60 * MS)
    expect(page.get_by_test_id("stMain").get_by_test_id("stVegaLiteChart")).to_have_count(
        1, timeout=30 * MS)
    expect(webrtc.locator("video")).to_have_count(1)
    assert "Traceback" not in app.log(tail=None)

    webrtc.get_by_role("button", name=re.compile("stop", re.IGNORECASE)).click()
