"""Time budgets at two machine speeds: what accuracy a budget reaches, and whether it ends on time.

    python -m bench.budget --preset fast-cpu-30min --data ../shared/fer2013             # full speed
    python -m bench.budget --preset fast-cpu-30min --data ../shared/fer2013 --threads 1 # slower
    python -m bench.budget --preset best-90min --data ../shared/fer2013
    python -m bench.budget --preset fast-cpu-30min --minutes 1 --set subsample_per_class=80 \\
        --set tta=false --set tta_shift=0                     # a one-minute check on the demo data

``--threads 1`` limits TensorFlow to one thread (intra- and inter-op), which stands in for a
slower machine: the budget should then choose fewer epochs and still end on time. Each run is
a normal run folder (``--runs-dir``), so the app's Results page shows it. The table gives the
host, the training images/s the run itself reached (training images x epochs / the epochs'
seconds, validation included), the epochs the budget chose, the run's own clock against the
budget, and test accuracy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.machine import describe_machine


def limit_threads(threads: int) -> None:
    """Give TensorFlow this many threads; only possible before it runs anything."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def run_budget(preset_name: str, *, minutes: float | None, overrides: list[str],
               data: str | None, runs_dir: Path) -> dict:
    """Train one budgeted run and return its row."""
    from fer_core import runs
    from fer_core.config import resolve_config
    from fer_core.training.budget import read_record
    from fer_core.training.trainer import train

    extra = [f"time_budget_min={minutes}"] if minutes is not None else []
    config = resolve_config(preset_name=preset_name, overrides=[*overrides, *extra], data=data)
    run_dir = runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{preset_name}"
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": preset_name})
    metrics = train(config, run_dir)
    history = runs.read_history(run_dir)
    sizes = runs.read_config(run_dir).data.get("sizes", {})
    record = read_record(run_dir) or {}
    epochs = int(metrics["epochs"])
    budget_s = config.time_budget_min * 60.0
    return {
        "preset": preset_name, "budget_min": config.time_budget_min,
        "images_per_s": sizes.get("train", 0) * epochs / max(history["seconds"].sum(), 1e-9),
        "epochs": epochs, "decisions": len(record.get("decisions", [])),
        "seconds": metrics["seconds"], "off_by": metrics["seconds"] / budget_s - 1.0,
        "test_accuracy": metrics.get("test", {}).get("accuracy"), "run": run_dir.name,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", required=True,
                        help="a preset with a time budget (repeatable)")
    parser.add_argument("--minutes", type=float, help="replace the preset's budget")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data", help="folder, fer2013.csv or .zip (default: demo data)")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: all)")
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs"))
    args = parser.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)

    print(f"Machine: {describe_machine()}\nTensorFlow threads: {args.threads or 'all'}; "
          f"data: {args.data or 'synthetic demo'}; overrides: {' '.join(args.set) or 'none'}\n")
    print("| preset | budget | TF threads | training images/s | epochs chosen | decisions | "
          "run's clock | off the budget | test accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.preset:
        row = run_budget(name, minutes=args.minutes, overrides=args.set, data=args.data,
                         runs_dir=args.runs_dir)
        accuracy = f"{row['test_accuracy']:.2%}" if row["test_accuracy"] is not None else "-"
        print(f"| {row['preset']} | {row['budget_min']:g} min | {args.threads or 'all'} | "
              f"{row['images_per_s']:,.0f} | {row['epochs']} | {row['decisions']} | "
              f"{row['seconds']:.0f} s | {row['off_by']:+.1%} | {accuracy} |", flush=True)


if __name__ == "__main__":
    main()
