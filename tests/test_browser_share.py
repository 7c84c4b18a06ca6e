"""Sharing, in a real browser: a copied Results link opens the same view in a fresh browser
context, and the HTML report is readable as Chromium lays it out."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fer_core.reports import blocks, report
from tests import browser_support as bs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

expect = bs.require_browser()  # skips the module without Chromium or Playwright

pytestmark = pytest.mark.slow
MS = bs.MS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with bs.chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, demo_run: Path) -> Iterator[bs.AppServer]:
    with bs.running_app(tmp_path_factory.mktemp("browser-share")) as server:
        shutil.copytree(demo_run, server.runs_dir / demo_run.name)
        shutil.copytree(demo_run, server.runs_dir / "20260102-000000-second")
        yield server


def _results(page: Page, url: str) -> None:
    bs.open_app(page, url)
    expect(page.get_by_role("heading", name="Results", level=1)).to_be_visible()


def test_copied_link_opens_the_same_runs_tab_and_split(app: bs.AppServer, browser: Browser,
                                                       demo_run: Path) -> None:
    with bs.new_page(browser) as page:
        _results(page, f"{app.url}/results")  # the server's first visit: a shared link
        nav = page.get_by_test_id("stSidebarNav").get_by_role("link")
        expect(nav).to_have_text([re.compile(f"{name}$") for name in bs.PAGE_TITLES])
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Runs folder")
        expect(page.get_by_text("Deploy", exact=True)).to_have_count(0)  # .streamlit/config
        main = page.get_by_test_id("stMain")
        runs = main.get_by_test_id("stMultiSelect").filter(has_text="Runs")
        runs.get_by_role("combobox").click()
        page.get_by_role("option", name=demo_run.name).click()
        page.keyboard.press("Escape")
        bs.wait_for_run(page)
        main.get_by_role("tab", name="Errors", exact=True).click()
        bs.wait_for_run(page)
        main.get_by_test_id("stRadio").get_by_text("Validation", exact=True).click()
        bs.wait_for_run(page)
        main.get_by_role("button", name="Copy link").click()
        code = page.get_by_test_id("stPopoverBody").get_by_test_id("stCode")
        link = code.inner_text().strip()
    assert link.startswith(f"{app.url}/results?runs=20260102-000000-second&runs={demo_run.name}")
    assert link.endswith("&tab=Errors&split=val")  # the default data choice needs no parameter

    with bs.new_page(browser) as fresh:  # no cookies, no session: only the link
        _results(fresh, link)
        main = fresh.get_by_test_id("stMain")
        chosen = main.get_by_test_id("stMultiSelect").filter(has_text="Runs")
        expect(chosen).to_contain_text("20260102-000000-second")
        expect(chosen).to_contain_text(demo_run.name)
        expect(main.get_by_role("tab", name="Errors", exact=True)).to_have_attribute(
            "aria-selected", "true")
        expect(main.get_by_role("radio", name="Validation")).to_be_checked()
        expect(main.get_by_text("Row-normalised (share of each true class)")).to_be_visible()


def test_report_fits_the_page_and_dark_cells_have_white_numbers(browser: Browser,
                                                                demo_run: Path,
                                                                bad_run: Path) -> None:
    html = report.build_report([demo_run, bad_run])
    with bs.new_page(browser) as page:
        page.set_content(html)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        inks = page.evaluate("""() => Array.from(document.querySelectorAll('g.cell')).map(g => [
            g.querySelector('rect').getAttribute('fill'),
            getComputedStyle(g.querySelector('text.count')).fill])""")
    assert overflow <= 0
    white = "rgb(255, 255, 255)"
    assert any(ink == white for _, ink in inks)  # the darkest cells, at least
    assert all((ink == white) == blocks._is_dark(fill) for fill, ink in inks)
    assert all(ink in (white, "rgb(0, 0, 0)") for _, ink in inks)


def test_back_from_results_takes_one_press(app: bs.AppServer, browser: Browser) -> None:
    """A page switch or a view change the user made is one history entry; the page's own
    rewrites of the address add none, so Back undoes one step at a time."""
    with bs.new_page(browser) as page:
        bs.open_app(page, app.url)
        page.wait_for_timeout(1000)  # any late rewrite of the address would land by now
        start = page.evaluate("window.history.length")
        bs.go_to(page, "Results")
        page.wait_for_timeout(1000)
        assert page.evaluate("window.history.length") == start + 1
        main = page.get_by_test_id("stMain")
        main.get_by_role("tab", name="Errors", exact=True).click()
        bs.wait_for_run(page)
        page.wait_for_timeout(1000)
        assert page.evaluate("window.history.length") == start + 2
        page.go_back()
        page.go_back()
        expect(page.get_by_role("heading", name="Start here", level=1)).to_be_visible(
            timeout=30_000)
