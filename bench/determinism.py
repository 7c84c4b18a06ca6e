"""What reproducible training costs: epoch seconds of ``fast-cpu`` and ``best`` with op
determinism on and off, interleaved in one command (on, off, on, off...) so both see the same
machine, each run in a process of its own (determinism, once on, stays on in a process).

    python -m bench.determinism [--data PATH] [--per-class 1000] [--epochs 3] [--repeats 2]

The first epoch (tracing) is left out of the mean; the load average is printed beside each
figure, since a busy machine moves epoch times more than determinism does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench.machine import describe_machine


def _epoch_seconds(preset: str, deterministic: bool, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        subprocess.run([sys.executable, "-m", "fer_core", "train", "--preset", preset,
                        "--data", args.data, "--run-dir", str(run_dir),
                        "--set", f"deterministic={str(deterministic).lower()}",
                        "--set", f"epochs={args.epochs}", "--set", "early_stopping_patience=0",
                        "--set", f"subsample_per_class={args.per_class}"],
                       check=True, capture_output=True)
        seconds = pd.read_csv(run_dir / "history.csv")["seconds"]
        return float(seconds.iloc[1:].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("FER_DATA_DIR", "demo"))
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(describe_machine(), f"| data {args.data}, at most {args.per_class} images per class")
    rows = []
    for repeat in range(args.repeats):
        for preset in ("fast-cpu", "best"):
            for deterministic in (True, False):
                seconds = _epoch_seconds(preset, deterministic, args)
                rows.append({"preset": preset, "deterministic": deterministic,
                             "repeat": repeat, "epoch_s": round(seconds, 2),
                             "load": round(os.getloadavg()[0], 1)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows).groupby(["preset", "deterministic"])["epoch_s"].mean().unstack()
    table["cost"] = (table[True] / table[False] - 1).map("{:+.1%}".format)
    print(table.to_string())


if __name__ == "__main__":
    main()
