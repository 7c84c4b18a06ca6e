"""FER Studio in a real browser: ``streamlit run serve.py`` driven by Chromium through Playwright.

AppTest runs one page's script; these tests cover what only a browser shows: the navigation
of ``app.py``, the job list's fragment ticking on its own timer, a file download and an upload
through the real widgets, and what a bookmarked URL opens. One server and one browser serve
the whole module; each test has a fresh browser context (a new Streamlit session).

With ``FER_SCREENSHOTS=1`` the story test writes the README's Explore, Train and Predict
screenshots into ``docs/`` (Results shows a real run: ``python -m bench.screenshots``);
otherwise into a temporary folder, so a normal run never touches the work tree.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fer_core import runs
from fer_core.data.demo import demo_dataset_dir
from tests import browser_support as bs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

expect = bs.require_browser()  # skips the module without Chromium or Playwright

pytestmark = pytest.mark.slow

MS = bs.MS
SEARCH_FIXTURE = bs.ROOT / "tests" / "fixtures" / "search"
JOB_TIMEOUT = 240 * MS  # one epoch on demo data, with TensorFlow loading, on two busy cores
PAGES = bs.PAGE_TITLES


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bs.AppServer]:
    with bs.running_app(tmp_path_factory.mktemp("browser")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with bs.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with bs.new_page(browser) as tab:
        yield tab


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the story's screenshots go: docs/ on request, else this test's temp folder."""
    if os.environ.get("FER_SCREENSHOTS") == "1":
        return bs.ROOT / "docs"
    return tmp_path / "screenshots"


# --- helpers -------------------------------------------------------------------------------------

def _main(page: Page) -> Locator:
    return page.get_by_test_id("stMain")


def _expect_no_errors(page: Page) -> None:
    """No traceback and no error box anywhere on the page."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def _open_tab(page: Page, name: str) -> Locator:
    """Click a tab and return its panel once the rerun it triggers is over."""
    tab = _main(page).get_by_role("tab", name=name, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    bs.wait_for_run(page)
    return _main(page).get_by_role("tabpanel", name=name, exact=True)


def _expect_chart_drawn(container: Locator, words: str | None = None) -> None:
    """A Vega-Lite chart drawn on screen, not just declared: the SVG Vega drew holds the
    chart's texts (title, axes, labels), so ``words`` picks the chart by what it shows."""
    drawn = container.get_by_test_id("stVegaLiteChart").locator("svg.marks")
    if words:
        drawn = drawn.filter(has_text=words)
    expect(drawn.first).to_be_visible(timeout=60 * MS)


def _new_run_id(runs_dir: Path, before: set[str], timeout_s: float = 30) -> str:
    """The run folder a Launch click created (there is exactly one new one)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = _run_ids(runs_dir) - before
        if new:
            assert len(new) == 1, f"one Launch created several runs: {sorted(new)}"
            return new.pop()
        time.sleep(0.5)
    raise AssertionError(f"no run folder appeared in {runs_dir} after Launch")


def _run_ids(runs_dir: Path) -> set[str]:
    return {p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _launch(page: Page, app: bs.AppServer, *, epochs: int) -> str:
    """On the Train page: preset fast-cpu, the given epochs, Launch; returns the new run's id."""
    main = _main(page)
    preset = main.get_by_role("combobox", name="Preset")
    preset.click()
    page.get_by_role("option", name="fast-cpu", exact=True).click()
    bs.wait_for_run(page)
    expect(preset).to_have_value("fast-cpu")

    _open_tab(page, "Training")
    field = main.get_by_label("Epochs", exact=True)
    field.fill(str(epochs))
    field.press("Enter")
    bs.wait_for_run(page)
    expect(field).to_have_value(str(epochs))

    before = _run_ids(app.runs_dir)
    main.get_by_role("button", name="Launch", exact=True).click()
    run_id = _new_run_id(app.runs_dir, before)
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text(f"Queued {run_id}")
    assert runs.read_config(app.runs_dir / run_id)["config"]["epochs"] == epochs
    return run_id


def _job_card(page: Page, run_id: str) -> Locator:
    """The bordered box of one job in the live job list.

    The innermost block holding both the job's id and a row of columns (its title row): the
    blocks around it hold them too, and come before it in document order.
    """
    return _main(page).get_by_test_id("stVerticalBlock").filter(has_text=run_id).filter(
        has=page.get_by_test_id("stHorizontalBlock")).last


def _progress_values(card: Locator) -> list[str]:
    bars = card.get_by_role("progressbar")
    return [bars.first.get_attribute("aria-valuenow") or ""] if bars.count() else []


def _wait_for_state(page: Page, run_id: str, state: str, timeout_ms: int) -> list[str]:
    """Wait for the job's title to read ``state``; return the progress values seen meanwhile."""
    title = _main(page).get_by_text(f"{run_id} · {state}")
    seen: list[str] = []
    deadline = time.monotonic() + timeout_ms / MS
    while time.monotonic() < deadline:
        if title.count():
            break
        with contextlib.suppress(Exception):  # the fragment replaced the element meanwhile
            seen += _progress_values(_job_card(page, run_id))
        time.sleep(1)
    expect(title).to_be_visible(timeout=5 * MS)
    return seen


def _demo_face() -> Path:
    """A 48x48 face from the demo data set the server uses (the same cache folder)."""
    return sorted((demo_dataset_dir() / "test" / "happy").glob("*.png"))[0]


# --- tests ---------------------------------------------------------------------------------------

def test_story_demo_data_explore_train_results_predict_all_render(
        app: bs.AppServer, page: Page, shots: Path, tmp_path: Path) -> None:
    """Explore the demo data, train one epoch, read its results and report, classify a face."""
    main = _main(page)

    # Explore: the class chart, then the sample gallery.
    bs.open_app(page, app.url)
    expect(main.get_by_role("heading", name="Start here", level=1)).to_be_visible()
    bs.go_to(page, "Explore")
    expect(main.get_by_role("heading", name="Explore", level=1)).to_be_visible()
    expect(main).to_contain_text("Synthetic demo data")
    _expect_chart_drawn(main.get_by_role("tabpanel", name="Classes"), "Images")
    _expect_no_errors(page)
    bs.screenshot(page, "explore", shots)
    samples = _open_tab(page, "Samples")
    expect(samples.get_by_test_id("stImage").first).to_be_visible(timeout=60 * MS)
    expect(samples.locator("[data-testid='stImage'] img").nth(6 * 7 - 1)).to_be_attached()

    # Train: fast-cpu for one epoch; the live list follows it to the end.
    bs.go_to(page, "Train")
    run_id = _launch(page, app, epochs=1)
    card = _job_card(page, run_id)
    expect(card.get_by_role("progressbar")).to_be_visible(timeout=30 * MS)
    seen = _wait_for_state(page, run_id, "succeeded", JOB_TIMEOUT)
    assert runs.read_status(app.runs_dir / run_id)["state"] == "succeeded"
    expect(card.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    assert any(value != "100" for value in seen), f"the bar never showed progress: {seen}"
    _expect_chart_drawn(card, "Accuracy")  # the job's own loss and accuracy curves
    _expect_no_errors(page)
    bs.scroll_to_top(main.get_by_role("button", name="Launch", exact=True))
    bs.screenshot(page, "train", shots)

    # Results: curves, confusion matrix, gallery, and the HTML report.
    bs.go_to(page, "Results")
    expect(main.get_by_test_id("stMultiSelect").filter(has_text="Runs")).to_contain_text(run_id)
    _expect_chart_drawn(main.get_by_role("tabpanel", name="Learning curves"), "epoch")
    errors = _open_tab(page, "Errors")
    _expect_chart_drawn(errors, "Confusion matrix")
    expect(errors.get_by_test_id("stMetric").first).to_contain_text("Accuracy")
    _expect_no_errors(page)
    bs.scroll_to_top(main.get_by_test_id("stMultiSelect").filter(has_text="Runs"))
    bs.screenshot(page, "results-demo", tmp_path)  # README's is a real run: bench/screenshots.py
    gallery = _open_tab(page, "Gallery")
    expect(gallery.locator("[data-testid='stImage'] img").first).to_be_visible(timeout=60 * MS)
    expect(gallery.locator("[data-testid='stImage'] img")).to_have_count(32)
    share = _open_tab(page, "Share")
    button = share.get_by_test_id("stDownloadButton").filter(has_text="Download the report")
    with page.expect_download(timeout=120 * MS) as download:
        button.locator("button").click()
    report_path = tmp_path / "report.html"
    download.value.save_as(report_path)
    assert download.value.suggested_filename == f"fer-studio-report-{run_id}.html"
    report_page = page.context.new_page()
    report_page.goto(report_path.as_uri())
    expect(report_page.locator("body")).to_contain_text(run_id)
    expect(report_page.locator("table").first).to_be_visible()
    report_page.close()

    # Predict: upload a demo face, see its probabilities.
    bs.go_to(page, "Predict")
    expect(main.get_by_test_id("stMultiSelect").filter(has_text="Run(s)")).to_contain_text(run_id)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(_demo_face()))
    expect(main.get_by_text(re.compile(r"Face 1: \w+ \(\d+%\)"))).to_be_visible(
        timeout=120 * MS)
    bs.wait_for_run(page)
    face = main.get_by_test_id("stImage").filter(has_text="face 1 (48x48)").locator("img")
    expect(face).to_be_visible()
    bs.wait_for_images(page)
    _expect_chart_drawn(main, "probability")
    _expect_no_errors(page)
    bs.screenshot(page, "predict", shots)
    assert "Traceback" not in app.log(tail=None)


def test_cancel_running_job_from_browser_ends_cancelled(app: bs.AppServer, page: Page) -> None:
    """A long job cancelled from its card stops, in the page and in status.json."""
    bs.open_app(page, f"{app.url}/train")
    run_id = _launch(page, app, epochs=30)
    card = _job_card(page, run_id)
    # Running with training under way (TensorFlow loaded): the cancel the job itself handles.
    expect(card).to_contain_text(re.compile(r"epoch \d+/30"), timeout=JOB_TIMEOUT)
    expect(card).to_contain_text(f"{run_id} · running")
    card.get_by_role("button", name="Cancel", exact=True).click()
    expect(_main(page).get_by_test_id("stAlertContentInfo").filter(
        has_text=f"Cancel sent to {run_id}")).to_be_visible()
    _wait_for_state(page, run_id, "cancelled", 120 * MS)
    status = runs.read_status(app.runs_dir / run_id)
    assert status["state"] == "cancelled"
    assert status.get("cancel_requested")
    expect(_job_card(page, run_id).get_by_role("button", name="Cancel")).to_have_count(0)


@pytest.mark.parametrize("path, title", [("", "Start here"), ("explore", "Explore"),
                                         ("train", "Train"),
                                         ("results", "Results"), ("predict", "Predict")])
def test_direct_url_bookmark_opens_page_with_shared_sidebar(
        app: bs.AppServer, page: Page, path: str, title: str) -> None:
    """A bookmarked or refreshed page URL runs through app.py: same navigation and sidebar.

    If Streamlit ran app_pages/<name>.py on its own (auto-discovered pages), the sidebar would list
    the files (``app``, ``explore``, ...) and lack the data source and runs folder.
    """
    bs.open_app(page, f"{app.url}/{path}")
    for attempt in ("first load", "reload"):
        main, sidebar = _main(page), page.get_by_test_id("stSidebar")
        expect(main.get_by_role("heading", name=title, level=1)).to_be_visible()
        urls = {f"{app.url}/{path}"} | ({f"{app.url}/"} if title == PAGES[0] else set())
        # the default data choice adds nothing to the address
        assert page.url in urls, (attempt, page.url)  # the default page may show as "/"
        links = sidebar.get_by_test_id("stSidebarNav").get_by_role("link")
        expect(links).to_have_text([re.compile(f"{name}$") for name in PAGES])  # after icons
        sources = sidebar.get_by_role("radiogroup", name="Data source")
        expect(sources).to_contain_text("Demo data (synthetic)")
        expect(sidebar.get_by_label("Runs folder")).to_have_value(str(app.runs_dir))
        expect(sidebar).to_contain_text("Device:")
        _expect_no_errors(page)
        expect(page.get_by_role("dialog")).to_have_count(0)  # no "page not found"
        if attempt == "first load":
            page.reload()
            page.wait_for_selector(bs.CONNECTED, timeout=60 * MS)
            bs.wait_for_run(page)


@pytest.mark.parametrize("path", ["train/extra", "results/a/b", "foo"])
def test_unknown_address_shows_the_start_page_saying_so(
        app: bs.AppServer, page: Page, path: str) -> None:
    """Streamlit alone draws a blank page below a page's address (its scripts resolve under it)
    and a dialog for an unknown one; served by serve.py, both open the start page, which names
    the address, with the whole navigation."""
    bs.open_app(page, f"{app.url}/{path}")
    main = _main(page)
    expect(main.get_by_role("heading", name=PAGES[0], level=1)).to_be_visible()
    expect(main).to_contain_text(f"No such page: /{path}.")
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links).to_have_text([re.compile(f"{name}$") for name in PAGES])
    expect(page.get_by_role("dialog")).to_have_count(0)
    _expect_no_errors(page)


# --- a search (Train's Search tab, Results' Search tab) -------------------------------------

def test_results_search_tab_draws_the_search(app: bs.AppServer, page: Page,
                                             tmp_path: Path) -> None:
    """On the finished search committed under tests/fixtures/search (last in this module: its
    trial runs join the runs folder)."""
    shutil.copytree(SEARCH_FIXTURE, app.runs_dir, dirs_exist_ok=True)
    bs.open_app(page, f"{app.url}/results?tab=Search")
    panel = page.get_by_test_id("stMain").get_by_role("tabpanel", name="Search", exact=True)
    for words in ("as the search went on", "Trials across their settings", "What mattered"):
        drawn = panel.get_by_test_id("stVegaLiteChart").locator("svg.marks").filter(
            has_text=words)
        expect(drawn.first).to_be_visible(timeout=60 * MS)
    expect(panel.get_by_text("Best: trial 0")).to_be_visible()
    expect(panel.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(panel.get_by_role("button", name="Train with these settings")).to_be_enabled()
    _expect_no_errors(page)
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
    _expect_no_errors(page)
