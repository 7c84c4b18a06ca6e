"""README's Results screenshots from a real run (the Errors tab, and the Map tab when the run
has its features), and the Start page beside them.

    python -m bench.screenshots RUN_DIR [--out docs]

The story test in ``tests/test_browser.py`` writes the other screenshots from the synthetic
demo (``FER_SCREENSHOTS=1``); a Results page is only worth showing on a model trained on real
data, which no test can train in its time. This serves a copy of ``RUN_DIR`` (a finished run,
e.g. ``fast-cpu`` on FER-2013) in a runs folder of its own and shows its Errors tab: curves,
confusion matrix and per-class scores, no face images.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from fer_core.runs import features as store
from tests import browser_support as bs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=bs.ROOT / "docs")
    args = parser.parse_args()
    expect = bs.require_browser()
    with tempfile.TemporaryDirectory() as base, bs.running_app(Path(base)) as app:
        shutil.copytree(args.run_dir, app.runs_dir / args.run_dir.name,
                        ignore=shutil.ignore_patterns("export", "tensorboard", "backup"))
        # The Map tab's faces are the run's own data set's: only its scatter is shown here.
        with bs.chromium() as browser, bs.new_page(browser) as page:
            bs.open_app(page, f"{app.url}/results?runs={args.run_dir.name}&tab=Errors")
            main_area = page.get_by_test_id("stMain")
            expect(main_area.get_by_role("tab", name="Errors", exact=True)).to_have_attribute(
                "aria-selected", "true")
            errors = main_area.get_by_role("tabpanel", name="Errors", exact=True)
            expect(errors.get_by_test_id("stVegaLiteChart").first).to_be_visible()
            bs.wait_for_run(page)
            bs.scroll_to_top(main_area.get_by_test_id("stMultiSelect").filter(
                has_text="Runs"))
            print(bs.screenshot(page, "results", args.out))
            if store.has_features(args.run_dir):
                main_area.get_by_role("tab", name="Map", exact=True).click()
                faces = store.read_meta(args.run_dir)["faces"]["test"]
                page.wait_for_function(bs.MAP_DRAWN, arg=faces, timeout=120 * bs.MS)
                bs.wait_for_run(page)
                bs.scroll_to_top(main_area.get_by_role("tabpanel", name="Map", exact=True))
                print(bs.screenshot(page, "map", args.out))
            bs.open_app(page, app.url)
            print(bs.screenshot(page, "start", args.out))


if __name__ == "__main__":
    main()
