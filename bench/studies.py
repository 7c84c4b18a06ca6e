"""The seed report's questions answered from the study runs in a runs folder, as a table.

    python -m bench.studies [RUNS_DIR]

Launch the studies first (``python -m fer_core jobs launch --study NAME ...``, one per
question); this prints the host, every quoted and measured row (test and validation accuracy,
best validation loss, minutes, training images/s) and one answer per question, the same the
Results page's Seed report tab and the HTML report show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.machine import describe_machine
from fer_core import runs
from fer_core.reports.seed_report import STUDIES, build_seed_report


def _cell(value: object, form: str = "{}") -> str:
    """A table cell: empty for a value the row does not have (None or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return form.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.studies")
    parser.add_argument("runs_dir", type=Path, nargs="?")
    args = parser.parse_args()
    report = build_seed_report(runs.list_runs(args.runs_dir))
    print(f"Machine: {describe_machine()}\n")
    print("| source | recipe | test | validation | best val loss | minutes | images/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in report.rows.to_dict("records"):
        cells = [row["source"], row["recipe"], _cell(row["test_accuracy"], "{:.2%}"),
                 _cell(row["val_accuracy"], "{:.2%}"), _cell(row["best_val_loss"], "{:.3f}"),
                 _cell(row["minutes"]), _cell(row["images_per_s"], "{:,.0f}")]
        print(f"| {' | '.join(cells)} |")
    print()
    for study in STUDIES:
        print(f"- {study.question} {report.answers[study.name]}")


if __name__ == "__main__":
    main()
