"""Export a run to every format and print each export's agreement and speed with the host.

    python -m bench.export runs/<run-id> [--format all] [--out DIR]

The same as ``python -m fer_core export`` (it writes ``export.json``), with the machine line
above the table so that the numbers can go into bench/RESULTS.md as they are. Throughput is
each runtime's own, batches of 256 on the test split (up to 1,000 images), after a warm-up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.machine import describe_machine
from fer_core.export import export_run, formats_of
from fer_core.export.report import describe


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--format", default="all")
    parser.add_argument("--out", type=Path, help="default: RUN_DIR/export")
    args = parser.parse_args()
    entries = export_run(args.run_dir, formats_of(args.format), out_dir=args.out)
    print(f"Machine: {describe_machine()}")
    print(f"Run: {args.run_dir.name}")
    print("\n".join(describe(entries)))


if __name__ == "__main__":
    main()
