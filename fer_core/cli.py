"""The command line: every step the app offers, for terminals, scripts and GPU servers.

    python -m fer_core data info [--data PATH] [--json]
    python -m fer_core data audit [--data PATH] [--json]
    python -m fer_core data demo OUT_DIR

A ``FerError`` prints one line (``error: ...``) and exits 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from fer_core.errors import FerError

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(register: Callable[[argparse._SubParsersAction], None]):
    """Collect a function that adds one sub-command to the parser."""
    _COMMANDS.append(register)
    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fer_core", description="FER Studio: facial emotion recognition workbench."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _COMMANDS:
        register(sub)
    return parser


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


# --- data ----------------------------------------------------------------------------------------

@command
def _data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect a data set").add_subparsers(
        dest="data_command", required=True
    )
    info = data.add_parser("info", help="counts per split and class, imbalance, load report")
    info.add_argument("--data", type=Path, help="folder, fer2013.csv or .zip (default: demo)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_data_info)
    audit = data.add_parser("audit", help="image quality, duplicates and train/test leakage")
    audit.add_argument("--data", type=Path)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=_data_audit)
    demo = data.add_parser("demo", help="write the synthetic demo data set to a folder")
    demo.add_argument("out_dir", type=Path)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_data_demo)


def _data_info(args: argparse.Namespace) -> int:
    from fer_core.data import imbalance_callout, load_dataset, summarize

    summary = summarize(load_dataset(args.data))
    if args.json:
        print_json(summary)
        return 0
    label = " (synthetic)" if summary["synthetic"] else ""
    print(f"{summary['name']}{label}: {summary['n_images']:,} images at {summary['location']}")
    splits = list(summary["counts"])
    print(f"{'class':<10}" + "".join(f"{s:>9}" for s in splits) + f"{'share':>9}")
    for label_name in summary["classes"]:
        row = "".join(f"{summary['counts'][s][label_name]:>9,}" for s in splits)
        print(f"{label_name:<10}{row}{summary['train_shares'][label_name]:>9.1%}")
    print(imbalance_callout(summary))
    for line in _load_report_lines(summary):
        print(f"  {line}")
    return 0


def _load_report_lines(summary: dict) -> list[str]:
    from fer_core.loading import LoadReport

    fields = {k: v for k, v in summary["load_report"].items() if k in LoadReport.__annotations__}
    return LoadReport(**fields).summary()


def _data_audit(args: argparse.Namespace) -> int:
    from fer_core.audit import audit
    from fer_core.data import load_dataset

    ds = load_dataset(args.data)
    report = audit(ds.images, ds.index)
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"Audit of {ds.name}: {len(ds):,} images")
        for line in report.summary():
            print(f"  {line}")
    return 0


def _data_demo(args: argparse.Namespace) -> int:
    from fer_core.demo import generate_demo_dataset

    out = generate_demo_dataset(args.out_dir, seed=args.seed)
    print(f"Synthetic demo data set written to {out}")
    return 0


# --- entry point ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except FerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
