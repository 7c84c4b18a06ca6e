"""A search in a real browser: Train's Search tab and Results' Search tab drawn by Chromium,
on the finished search committed under ``tests/fixtures/search`` (its trials, charts and best
settings; nothing trains here)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import browser_support as bs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

expect = bs.require_browser()  # skips the module without Chromium or Playwright

pytestmark = pytest.mark.slow

MS = bs.MS
FIXTURE = bs.ROOT / "tests" / "fixtures" / "search"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bs.AppServer]:
    with bs.running_app(tmp_path_factory.mktemp("browser-search")) as server:
        shutil.copytree(FIXTURE, server.runs_dir, dirs_exist_ok=True)
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with bs.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with bs.new_page(browser) as tab:
        yield tab


def _no_errors(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def test_results_search_tab_draws_the_search(app: bs.AppServer, page: Page,
                                             tmp_path: Path) -> None:
    bs.open_app(page, f"{app.url}/results?tab=Search")
    panel = page.get_by_test_id("stMain").get_by_role("tabpanel", name="Search", exact=True)
    for words in ("as the search went on", "Trials across their settings", "What mattered"):
        drawn = panel.get_by_test_id("stVegaLiteChart").locator("svg.marks").filter(
            has_text=words)
        expect(drawn.first).to_be_visible(timeout=60 * MS)
    expect(panel.get_by_text("Best: trial 0")).to_be_visible()
    expect(panel.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(panel.get_by_role("button", name="Train with these settings")).to_be_enabled()
    _no_errors(page)
    bs.screenshot(page, "results-search", tmp_path)


def test_train_search_tab_offers_ranges_and_counts_trials(app: bs.AppServer,
                                                          page: Page) -> None:
    bs.open_app(page, f"{app.url}/train")
    main = page.get_by_test_id("stMain")
    tab = main.get_by_role("tab", name="Search: let the machine find the settings")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    panel = main.get_by_role("tabpanel", name="Search: let the machine find the settings")
    expect(panel.get_by_text("Learning rate: from")).to_be_visible(timeout=30 * MS)
    expect(panel.get_by_text("About 12 trials of 5 minutes fit in 60 minutes")).to_be_visible()
    expect(panel.get_by_role("button", name="Launch search")).to_be_enabled()
    _no_errors(page)
