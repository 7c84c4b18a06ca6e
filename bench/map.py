"""The map of the faces on FER-2013: how long, how large, how well it agrees with the model,
and how fast the browser draws it.

    python -m bench.map RUN_DIR [RUN_DIR ...] [--browser]

Each run's features and map are computed by ``python -m fer_core features RUN_DIR --json`` in
a process of its own, as the task runs them, the first with an empty numba cache (so its time
includes UMAP's first compilation), the next with the cache the first left. The table gives
the wall time of the whole command (TensorFlow's import and the model's load included), the
parts the task timed, the cached files' sizes, and K-nearest-neighbour accuracy on test (the
training faces' labels voting) against the model's own. ``--browser`` then opens Results on
the first run in Chromium and times a click on the Map tab until every test face is drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe_machine
from fer_core import runs
from fer_core.runs import features as store

REPO = Path(__file__).resolve().parents[1]


def compute(run_dir: Path, numba_cache: Path) -> tuple[float, dict]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fer_core", "features", str(run_dir), "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"features failed on {run_dir}:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def browser_seconds(run_dir: Path, faces: int) -> float:
    """Seconds from a click on the Map tab until all ``faces`` test faces are drawn (on a
    canvas, as Streamlit draws over 2,000 points: once the canvas has been painted)."""
    from tests import browser_support as bs

    data = runs.read_config(run_dir).config.get("data")
    with tempfile.TemporaryDirectory() as folder, \
            bs.running_app(Path(folder), data_dir=Path(data) if data else None) as app, \
            bs.chromium() as browser, bs.new_page(browser) as page:
        shutil.copytree(run_dir, app.runs_dir / run_dir.name)
        bs.open_app(page, f"{app.url}/results?runs={run_dir.name}")
        main = page.get_by_test_id("stMain")
        tab = main.get_by_role("tab", name="Map", exact=True)
        started = time.perf_counter()
        tab.click()
        page.wait_for_function(bs.MAP_DRAWN, arg=faces, timeout=120_000)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", type=Path, nargs="+")
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    print(f"Machine: {describe_machine()}\n")
    print("| run | faces | features wide, kept | command (numba cache) | features | map | "
          "features.npz | map.csv | kNN accuracy (k=5), test | model accuracy, same faces |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    disagreements = []
    with tempfile.TemporaryDirectory() as cache:
        for n, run_dir in enumerate(args.run_dirs):
            seconds, result = compute(run_dir.resolve(), Path(cache))
            folder = store.folder(run_dir)
            sizes = [(folder / name).stat().st_size / 1e6 for name in (store.ARRAYS, store.MAP)]
            timed = result["seconds"]
            print(f"| {run_dir.name} ({runs.read_config(run_dir).config.get('backbone')}) | "
                  f"{sum(result['faces'].values()):,} | {result['dimensions']}, "
                  f"{result['kept_dimensions']} ({result['variance_kept']:.1%}) | "
                  f"{seconds:.0f} s ({'empty' if n == 0 else 'warm'}) | {timed['features']:.0f} s "
                  f"| {timed['map']:.0f} s | {sizes[0]:.1f} MB | {sizes[1]:.1f} MB | "
                  f"{result['knn_accuracy']['test']:.1%} | "
                  f"{result['knn_accuracy']['model_test']:.1%} |", flush=True)
            disagreements.append((run_dir.name, result["per_class"]))
    for name, per_class in disagreements:
        print(f"\n{name}: per class, test faces (least neighbour agreement first)\n")
        print("| class | faces | kNN accuracy | model accuracy |\n| --- | ---: | ---: | ---: |")
        for row in per_class:
            print(f"| {row['class']} | {row['faces']:,} | {row['knn_accuracy']:.1%} | "
                  f"{row['model_accuracy']:.1%} |")
    if args.browser:
        run_dir = args.run_dirs[0]
        faces = store.read_meta(run_dir)["faces"]["test"]
        print(f"\nMap tab of {run_dir.name}: {faces:,} test faces drawn "
              f"{browser_seconds(run_dir, faces):.2f} s after the click")


if __name__ == "__main__":
    main()
