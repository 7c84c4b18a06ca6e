"""The map of the faces and the nearest training faces in a real browser, on the demo run and
on a small run of the real FER-2013 (skipped without it): Results' Map tab draws, a box
dragged over it lists its faces, and Predict shows an uploaded face's nearest training faces.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fer_core.data import DataRef
from fer_core.runs import features as store
from fer_core.tasks import features as features_task
from tests import browser_support as bs
from tests.conftest import REAL_FER2013
from tests.fixtures.make_runs import train_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

expect = bs.require_browser()  # skips the module without Chromium or Playwright

pytestmark = pytest.mark.slow
MS = bs.MS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with bs.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with bs.new_page(browser) as tab:
        yield tab


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory, demo_run: Path
             ) -> Iterator[tuple[bs.AppServer, Path]]:
    with bs.running_app(tmp_path_factory.mktemp("browser-map")) as server:
        run_dir = Path(shutil.copytree(demo_run, server.runs_dir / demo_run.name))
        features_task.compute_and_keep(run_dir)
        yield server, run_dir


@pytest.fixture(scope="module")
def fer_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bs.AppServer, Path]]:
    """A one-epoch fast-cpu run on 40 training faces a class of the real FER-2013, with its
    map (every validation and test face: 2,871 and 3,589)."""
    if not (REAL_FER2013 / "train").is_dir():
        pytest.skip("the real FER-2013 is not present at ../shared/fer2013")
    base = tmp_path_factory.mktemp("browser-map-fer")
    with bs.running_app(base, data_dir=REAL_FER2013) as server:
        run_dir = train_run(server.runs_dir / "20260101-000000-fast-cpu", epochs=1, seed=0,
                            subsample_per_class=40, data=str(REAL_FER2013))
        features_task.compute_and_keep(run_dir)
        yield server, run_dir


def _map_panel(page: Page):
    return page.get_by_test_id("stMain").get_by_role("tabpanel", name="Map", exact=True)


def _draws_the_map(page: Page, url: str, faces: int) -> float:
    """Open Results on the Map tab; the seconds until the faces are drawn (Streamlit draws a
    chart of over 2,000 points on a canvas, fewer as SVG shapes, which are counted)."""
    started = time.perf_counter()
    bs.open_app(page, f"{url}/results?tab=Map")
    page.wait_for_function(bs.MAP_DRAWN, arg=faces, timeout=120 * MS)
    return time.perf_counter() - started


def _drag_a_box(page: Page) -> None:
    box = _map_panel(page).get_by_test_id("stVegaLiteChart").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.8, steps=8)
    page.mouse.up()
    bs.wait_for_run(page)


def _nearest_on_predict(page: Page, url: str, photo: Path) -> None:
    bs.open_app(page, f"{url}/predict")
    main = page.get_by_test_id("stMain")
    for name in ("Show nearest training faces", "No face found: use the whole photo"):
        main.get_by_text(name, exact=True).click()
        bs.wait_for_run(page)
    main.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(photo))
    bs.wait_for_run(page)
    expect(main.get_by_text("Nearest training faces of")).to_be_visible(timeout=120 * MS)
    expect(main.get_by_text(" · ").first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_demo_map_draws_and_a_dragged_box_lists_its_faces(demo_app, page: Page) -> None:
    server, run_dir = demo_app
    seconds = _draws_the_map(page, server.url, store.read_meta(run_dir)["faces"]["test"])
    print(f"demo map of the test faces drawn in {seconds:.1f} s")
    _drag_a_box(page)
    expect(_map_panel(page).get_by_text("faces in the box")).to_be_visible(timeout=60 * MS)
    expect(_map_panel(page).get_by_role("button", name="Download them (CSV)")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_demo_predict_shows_the_nearest_training_faces(demo_app, page: Page) -> None:
    server, run_dir = demo_app
    table = store.map_frame(run_dir)
    face = table.loc[table["split"] == "train", "id"].iloc[0]
    source = DataRef.parse("demo").load().index.set_index("id").loc[face, "source"]
    _nearest_on_predict(page, server.url, Path(source))


def test_fer2013_map_and_nearest_faces(fer_app, page: Page) -> None:
    server, run_dir = fer_app
    faces = store.read_meta(run_dir)["faces"]
    assert faces["test"] == 3589 and faces["val"] == 2871
    seconds = _draws_the_map(page, server.url, faces["test"])
    print(f"FER-2013 map of {faces['test']:,} test faces drawn in {seconds:.1f} s")
    _drag_a_box(page)
    expect(_map_panel(page).get_by_text("faces in the box")).to_be_visible(timeout=60 * MS)
    photo = sorted((REAL_FER2013 / "test" / "happy").iterdir())[0]
    _nearest_on_predict(page, server.url, photo)
