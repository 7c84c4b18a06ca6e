"""Helpers for the real-browser tests: a live ``streamlit run``, Chromium, Streamlit waits.

The tests' fixtures are thin wrappers around the context managers here (``running_app``,
``chromium``, ``new_page``), so importing this module never shadows a fixture name.

The server runs the app as a user starts it (``streamlit run serve.py``), on 127.0.0.1
and a free port, with its own runs folder; the cache folder is the test session's (see
conftest.py), so the demo data set is generated once and the tests can read the same images the
server shows. Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's sync API;
Playwright's own browser download is never used (no internet here). Without either, the tests
are skipped, not failed (``require_browser``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fer_core import tasks
from fer_core.core import settings

if TYPE_CHECKING:  # playwright is optional: the tests skip without it
    from playwright.sync_api import Browser, Locator, Page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# What Chromium needs on a closed, headless machine (see the machine notes): without the
# background-networking flags it keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
NOT_RUNNING = "[data-testid='stApp'][data-test-script-state='notRunning']"
SERVER_START_S = 90  # two busy cores: importing streamlit and the app can take a while
MS = 1000
PAGE_TITLES = ("Start here", "Explore", "Train", "Results", "Predict")  # app.py's navigation


def require_browser() -> Any:
    """Playwright's ``expect``; skips the calling test module without Chromium or Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}", allow_module_level=True)
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed")
    return sync_api.expect


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    """One ``streamlit run serve.py`` process and the folders it was given."""

    runs_dir: Path
    cache_dir: Path
    log_path: Path
    data_dir: Path | None = None  # FER_DATA_DIR; None: unset (the demo data set)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FER_RUNS_DIR"] = str(self.runs_dir)
        env["FER_CACHE_DIR"] = str(self.cache_dir)
        env.pop("FER_DATA_DIR", None)
        if self.data_dir is not None:
            env["FER_DATA_DIR"] = str(self.data_dir)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return env

    def start(self) -> None:
        command = [
            sys.executable, "-m", "streamlit", "run", "serve.py",
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env(),
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n"
                                   + self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not listen on {self.url} in {SERVER_START_S} s:\n"
                           + self.log())

    def stop(self) -> None:
        """Stop the server, then any job it queued: a test never leaves a trainer running."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        cancel_active_jobs(self.runs_dir)

    def log(self, tail: int | None = 4000) -> str:
        """The server's output (its last ``tail`` characters): tracebacks land here."""
        try:
            text = self.log_path.read_text(errors="replace")
            return text[-tail:] if tail else text
        except OSError:
            return ""


def cancel_active_jobs(runs_dir: Path, timeout: float = 90) -> None:
    """Cancel queued and running jobs of every kind and wait for them to end (their workers
    then exit)."""
    for job in tasks.list_jobs(runs_dir):
        if job.state in ("queued", "running"):
            try:
                tasks.cancel(job.path)
                tasks.wait(job.path, timeout=timeout)
            except Exception as err:  # teardown: report, never mask the test's own result
                print(f"could not stop {job.path.name}: {err}", file=sys.stderr)


@contextmanager
def running_app(base: Path, *, data_dir: Path | None = None) -> Iterator[AppServer]:
    """A live FER Studio, with an empty runs folder of its own under ``base``, on demo data
    unless ``data_dir`` is its FER_DATA_DIR."""
    from fer_core.data.demo import demo_dataset_dir

    demo_dataset_dir()  # generated here once, so the first page load only reads it
    server = AppServer(runs_dir=base / "runs", cache_dir=settings.cache_dir(),
                       log_path=base / "streamlit.log", data_dir=data_dir)
    server.runs_dir.mkdir(parents=True, exist_ok=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; each test opens its own context in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Browser) -> Iterator[Page]:
    """A fresh context (no cookies, no Streamlit session) and one page, 1400x900."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(30 * MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_app(page: Page, url: str) -> None:
    """Load a URL and wait until Streamlit is connected and the first script run is over."""
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=60 * MS)
    wait_for_run(page)


def wait_for_run(page: Page, timeout_s: float = 120) -> None:
    """Wait for the script run to end, as Streamlit's own e2e suite does."""
    page.wait_for_selector(NOT_RUNNING, timeout=timeout_s * MS)


def go_to(page: Page, title: str) -> None:
    """Switch page through the sidebar navigation, as a user would."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=60 * MS)
    wait_for_run(page)


def wait_for_images(page: Page, timeout_s: float = 30) -> None:
    """Every image on the page downloaded and decoded (Streamlit serves them as media URLs)."""
    page.wait_for_function(_IMAGES_LOADED_JS, timeout=timeout_s * MS)


_IMAGES_LOADED_JS = """() => Array.from(document.querySelectorAll("[data-testid='stMain'] img"))
    .every(image => image.complete && image.naturalWidth > 0)"""


def scroll_to_top(locator: Locator, margin: int = 80) -> None:
    """Scroll so the element starts ``margin`` px below the window's top, clear of the app's
    header: where a screenshot of that part of the page should begin."""
    locator.evaluate(_SCROLL_JS, margin)


_SCROLL_JS = """(element, margin) => {
    element.scrollIntoView({block: "start"});
    for (let box = element.parentElement; box; box = box.parentElement) {
        const overflow = getComputedStyle(box).overflowY;
        if ((overflow === "auto" || overflow === "scroll") && box.scrollHeight > box.clientHeight) {
            box.scrollTop -= margin;
            return;
        }
    }
    window.scrollBy(0, -margin);
}"""


def screenshot(page: Page, name: str, folder: Path) -> Path:
    """A PNG of the visible window (1400x900), with the mouse and its tooltips out of the way."""
    from playwright.sync_api import expect

    folder.mkdir(parents=True, exist_ok=True)
    page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)
    expect(page.get_by_role("tooltip")).to_have_count(0, timeout=10 * MS)
    wait_for_images(page)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled")
    return path


# True once a chart has drawn ``n`` points (the Map tab's faces): Streamlit draws a chart of
# over 2,000 points on a canvas (then: once it is painted), fewer as SVG shapes (counted).
MAP_DRAWN = """n => [...document.querySelectorAll('[data-testid=stVegaLiteChart] .marks')]
  .some(marks => marks.tagName.toLowerCase() === 'canvas' ? marks.width > 0
    : marks.querySelectorAll('path[role=graphics-symbol]').length >= n)"""
