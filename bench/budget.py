"""Time budgets at two machine speeds: what accuracy a budget reaches, and whether it ends on time.

    python -m bench.budget --preset fast-cpu-30min --data ../shared/fer2013             # full speed
    python -m bench.budget --preset fast-cpu-30min --data ../shared/fer2013 --threads 1 # slower
    python -m bench.budget --preset best-90min --data ../shared/fer2013
    python -m bench.budget --preset fast-cpu-30min --minutes 1 --set subsample_per_class=80 \\
        --set tta=false --set tta_shift=0                     # a one-minute check on the demo data
    python -m bench.budget --preset fast-cpu --data ../shared/fer2013 \\
        --exclude-suspects 2000   # fast-cpu's 42 epochs without the 2,000 most suspect labels

``--threads 1`` limits TensorFlow to one thread (intra- and inter-op), which stands in for a
slower machine: the budget should then choose fewer epochs and still end on time. Each run is
a normal run folder (``--runs-dir``), so the app's Results page shows it. The table gives the
host, the training images/s the run itself reached (training images x epochs / the epochs'
seconds, validation included), the epochs the budget chose, the run's own clock against the
budget, and test accuracy.

``--exclude-suspects N`` leaves out the N most suspect training labels of the data set's last
suspect-label pass (``python -m fer_core data suspects``): they go into the run folder as its
label overrides, exactly as the app's Exclude choices reach a launched job, and training applies
and records them. With a preset without a budget (``--preset fast-cpu``) the epochs are the
preset's, so two runs compare on the same schedule whatever the machine's speed that day.
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


def exclude_top_suspects(run_dir: Path, data: str | None, count: int) -> int:
    """Write the ``count`` most suspect labels into the run folder as exclusions (the data
    set's own overrides in the cache stay as they are); return how many were written."""
    from fer_core import runs
    from fer_core.core import atomic
    from fer_core.data import DataRef
    from fer_core.data.overrides import LabelOverrides
    from fer_core.tasks.suspects import most_suspect

    fingerprint = DataRef.parse(data).fingerprint()
    chosen = LabelOverrides(fingerprint).with_exclude(*most_suspect(fingerprint, count))
    atomic.write_json(runs.files(run_dir).overrides, chosen.to_json())
    return len(chosen.exclude)


def run_budget(preset_name: str, *, minutes: float | None, overrides: list[str],
               data: str | None, runs_dir: Path, exclude_suspects: int = 0) -> dict:
    """Train one budgeted run and return its row."""
    from fer_core import runs
    from fer_core.core.config import resolve_config
    from fer_core.data.overrides import RECORD_KEY as LABEL_OVERRIDES
    from fer_core.tasks.train import train
    from fer_core.training.budget import read_record

    extra = [f"time_budget_min={minutes}"] if minutes is not None else []
    config = resolve_config(preset_name=preset_name, overrides=[*overrides, *extra], data=data)
    run_dir = runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{preset_name}"
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": preset_name})
    if exclude_suspects:
        exclude_top_suspects(run_dir, data, exclude_suspects)
    metrics = train(config, run_dir)
    history = runs.read_history(run_dir)
    written = runs.read_config(run_dir)
    sizes = written.data.get("sizes", {})
    applied = written.extra.get(LABEL_OVERRIDES, {})
    record = read_record(run_dir) or {}
    epochs = int(metrics["epochs"])
    budget_s = config.time_budget_min * 60.0
    return {
        "preset": preset_name, "budget_min": config.time_budget_min,
        "images_per_s": sizes.get("train", 0) * epochs / max(history["seconds"].sum(), 1e-9),
        "excluded": int(applied.get("excluded", 0)), "epochs": epochs,
        "decisions": len(record.get("decisions", [])),
        "seconds": metrics["seconds"],
        "off_by": metrics["seconds"] / budget_s - 1.0 if budget_s else None,
        "test_accuracy": metrics.get("test", {}).get("accuracy"), "run": run_dir.name,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", required=True,
                        help="a preset, usually one with a time budget (repeatable)")
    parser.add_argument("--minutes", type=float, help="replace the preset's budget")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data", help="folder, fer2013.csv or .zip (default: demo data)")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: all)")
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs"))
    parser.add_argument("--exclude-suspects", type=int, default=0, metavar="N",
                        help="leave out the N most suspect labels of the last suspects pass")
    args = parser.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)

    print(f"Machine: {describe_machine()}\nTensorFlow threads: {args.threads or 'all'}; "
          f"data: {args.data or 'synthetic demo'}; overrides: {' '.join(args.set) or 'none'}\n")
    print("| preset | budget | TF threads | labels excluded | training images/s | epochs chosen | "
          "decisions | run's clock | off the budget | test accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.preset:
        row = run_budget(name, minutes=args.minutes, overrides=args.set, data=args.data,
                         runs_dir=args.runs_dir, exclude_suspects=args.exclude_suspects)
        accuracy = f"{row['test_accuracy']:.2%}" if row["test_accuracy"] is not None else "-"
        off_by = f"{row['off_by']:+.1%}" if row["off_by"] is not None else "-"
        budget = f"{row['budget_min']:g} min" if row["budget_min"] else "none"
        print(f"| {row['preset']} | {budget} | {args.threads or 'all'} | "
              f"{row['excluded']:,} | {row['images_per_s']:,.0f} | {row['epochs']} | "
              f"{row['decisions']} | {row['seconds']:.0f} s | {off_by} | {accuracy} |",
              flush=True)


if __name__ == "__main__":
    main()
