"""The data choice in a real browser: with FER_DATA_DIR set and the demo chosen in the sidebar,
a reload keeps the demo (sidebar and address), and the estimate, a suspect-labels pass and the
report all work on the demo, while nothing starts on FER_DATA_DIR's folder."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fer_core import runs, tasks
from fer_core.core.config import preset
from fer_core.data import DataRef
from fer_core.runs import task_folders
from fer_core.tasks import suspects
from fer_core.training import speed
from tests import browser_support as bs
from tests.conftest import make_kaggle_tree

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = bs.require_browser()  # skips the module without Chromium or Playwright

pytestmark = pytest.mark.slow
MS = bs.MS
DEMO = "Demo data (synthetic)"
DEMO_ADDRESS = re.compile(r"[?&]data=demo(&|$)")
MEASURE_TIMEOUT = 300 * MS  # TensorFlow loading and a few timed steps, on two busy cores


@pytest.fixture(scope="module")
def env_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FER_DATA_DIR's folder: 5 images a split, where the demo has thousands."""
    return make_kaggle_tree(tmp_path_factory.mktemp("env") / "fer-env", {"happy": 3, "sad": 2})


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, env_data: Path,
        demo_run: Path) -> Iterator[bs.AppServer]:
    with bs.running_app(tmp_path_factory.mktemp("browser-data"), data_dir=env_data) as server:
        shutil.copytree(demo_run, server.runs_dir / demo_run.name)
        yield server


@pytest.fixture
def page() -> Iterator[Page]:
    with bs.chromium() as browser, bs.new_page(browser) as tab:
        yield tab


def _estimate_text(data: DataRef) -> str:
    config = preset("fast-cpu")  # the Train page's first preset
    return speed.describe(speed.estimate_config(config, data.load(), measure_missing=False))


def _stop_pass(runs_dir: Path, fingerprint: str) -> dict:
    """The spec of the pass the click queued (the data it runs on), read and then stopped:
    the test only needs to know what it began on."""
    deadline = time.monotonic() + 30  # the click's rerun may not have begun yet
    while (task := suspects.latest_pass(fingerprint, runs_root=runs_dir)) is None and (
            time.monotonic() < deadline):
        time.sleep(0.2)
    assert task is not None, "no pass was queued on the demo"
    tasks.cancel(task)
    tasks.wait(task, timeout=120)
    return task_folders.read_task(task).spec


def test_demo_chosen_over_fer_data_dir_survives_a_reload_and_is_what_pages_use(
        app: bs.AppServer, page: Page, env_data: Path) -> None:
    bs.open_app(page, f"{app.url}/train")
    sidebar, main = page.get_by_test_id("stSidebar"), page.get_by_test_id("stMain")
    expect(main).to_contain_text(f"Data: {env_data}")  # FER_DATA_DIR: the first default
    sidebar.get_by_text(DEMO, exact=True).click()
    bs.wait_for_run(page)
    expect(page).to_have_url(DEMO_ADDRESS)

    page.reload()
    page.wait_for_selector(bs.CONNECTED, timeout=60 * MS)
    bs.wait_for_run(page)
    expect(sidebar.get_by_role("radio", name=DEMO)).to_be_checked()
    expect(page).to_have_url(DEMO_ADDRESS)
    expect(main).to_contain_text("Data: the synthetic demo data set")

    estimate = main.get_by_role("button", name="Estimate")
    if estimate.count():  # not measured yet in this cache folder
        estimate.click()
    caption = main.get_by_text(re.compile("on this machine: "))
    expect(caption).to_be_visible(timeout=MEASURE_TIMEOUT)
    expect(caption).to_contain_text(_estimate_text(DataRef()))
    assert _estimate_text(DataRef()) != _estimate_text(DataRef(env_data))

    bs.go_to(page, "Explore")
    expect(page).to_have_url(DEMO_ADDRESS)
    main.get_by_role("tab", name="Suspect labels", exact=True).click()
    bs.wait_for_run(page)
    main.get_by_role("button", name="Find suspect labels").click()
    bs.wait_for_run(page)
    spec = _stop_pass(app.runs_dir, DataRef().fingerprint())  # the demo's: the one shown
    assert spec["data"] == "demo", spec
    assert suspects.latest_pass(DataRef(env_data).fingerprint(), runs_root=app.runs_dir) is None

    bs.go_to(page, "Results")
    expect(page).to_have_url(DEMO_ADDRESS)
    main.get_by_role("tab", name="Share", exact=True).click()
    bs.wait_for_run(page)
    button = main.get_by_test_id("stDownloadButton").filter(has_text="Download the report")
    with page.expect_download(timeout=120 * MS) as download:
        button.locator("button").click()
    report = Path(download.value.path()).read_text()
    assert "<img" in report and "No gallery" not in report  # the demo run's faces
    assert len(runs.run_folders(app.runs_dir)) == 1  # the demo run: nothing was launched
