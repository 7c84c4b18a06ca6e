"""First and second render time of every page on the full FER-2013 with 20 runs to show.

    python -m bench.app_render [--data PATH] [--run RUN_DIR]

Each page renders through Streamlit's AppTest as the app would run it (the shared session
keys set, caches warm after the first render). RUN_DIR is a finished run, copied 20 times
into a temporary runs folder; without it a 1-epoch fast-cpu run on the data is trained first.
Targets on a 2-core machine: every page's second render under 1 s, first under 5 s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "fer2013"
PAGES = ("explore", "train", "results", "predict")


def make_runs(source: Path | None, data: Path, runs_root: Path, copies: int = 20) -> None:
    if source is None:
        from fer_core.core.config import preset
        from fer_core.tasks.train import train

        source = runs_root.parent / "seed-run"
        train(preset("fast-cpu").replace(epochs=1, data=str(data)), source)
    for i in range(copies):
        shutil.copytree(source, runs_root / f"20260101-{i:06d}-bench")


def render_times(page: str, data: Path, runs_root: Path) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app_pages" / f"{page}.py"), default_timeout=120)
    at.session_state["app.data_path"] = str(data)
    at.session_state["app.runs_dir"] = str(runs_root)
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    at.run()
    second = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"{page} raised: {at.exception[0].value}")
    return first, second


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--run", type=Path, help="a finished run folder to copy 20 times")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs_root = Path(tmp) / "runs"
        runs_root.mkdir()
        make_runs(args.run, args.data, runs_root)
        rows = [(page, *render_times(page, args.data, runs_root)) for page in PAGES]
    print(f"Machine: {describe_machine()}")
    print(f"Data: {args.data}; 20 runs in the runs folder\n")
    print("| page | first render (s) | second render (s) |")
    print("| --- | ---: | ---: |")
    for page, first, second in rows:
        print(f"| {page} | {first:.2f} | {second:.2f} |")


if __name__ == "__main__":
    main()
