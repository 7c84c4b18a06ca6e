"""Train presets on the real FER-2013 and print test accuracy beside the seed report's.

    python -m bench.accuracy --preset fast-cpu
    python -m bench.accuracy --preset best --set epochs=40 --runs-dir bench-runs
    python -m bench.accuracy --report bench-runs/*     # table of runs already trained

Validation is carved from train/ (stratified, the preset's fraction); test/ is the 3,589-image
PublicTest split, reported as is and never used to choose anything. Each run is a normal run
folder, so the app's Results page shows it too.

Time to accuracy: at 15, 30, 60 and 90 minutes (``--marks``) the run's best model so far is
copied to ``snapshots/`` in its folder, and scored on test/ once training is over. That is
what a user who cancelled the job at that minute would keep.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from pathlib import Path

from bench.machine import describe_machine
from fer_core.reports.seed_report import QUOTED  # the seed report's own test accuracies

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "fer2013"


DEFAULT_MARKS = (15.0, 30.0, 60.0, 90.0)


class Snapshotter(threading.Thread):
    """Copies a run's best model so far at each time mark, in the background.

    ``model.keras`` is replaced atomically (rename), so a copy always reads one whole model.
    """

    def __init__(self, run_dir: Path, marks_minutes: tuple[float, ...]) -> None:
        super().__init__(daemon=True)
        self.run_dir = run_dir
        self.marks = sorted(marks_minutes)
        self._finished = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        for mark in self.marks:
            if self._finished.wait(max(0.0, start + mark * 60 - time.monotonic())):
                return
            from fer_core import runs

            model = runs.files(self.run_dir).model
            if model.exists():
                (self.run_dir / "snapshots").mkdir(exist_ok=True)
                shutil.copyfile(model, self.run_dir / "snapshots" / f"{mark:g}min.keras")

    def finish(self) -> None:
        self._finished.set()
        self.join()


def train_preset(preset_name: str, overrides: list[str], data: Path, runs_dir: Path,
                 marks: tuple[float, ...] = DEFAULT_MARKS) -> Path:
    from fer_core import runs
    from fer_core.core.config import resolve_config
    from fer_core.tasks.train import train

    config = resolve_config(preset_name=preset_name, overrides=overrides, data=str(data))
    run_dir = runs.run_path(runs.new_run_id(f"bench-{preset_name}", runs_root=runs_dir),
                            runs_root=runs_dir)
    runs.create_run(config.to_dict(), run_dir=run_dir,
                    extra={"preset": preset_name, "overrides": overrides})
    snapshots = Snapshotter(run_dir, marks)
    snapshots.start()
    try:
        train(config, run_dir)
    finally:
        snapshots.finish()
    return run_dir


def time_to_accuracy(run_dir: Path) -> list[tuple[str, float]]:
    """(minutes, test accuracy) of each snapshot, then of the finished run."""
    from fer_core import runs
    from fer_core.core.config import TrainConfig
    from fer_core.inference.evaluation import compute_metrics, predict_proba
    from fer_core.training.inputs import prepare_data
    from fer_core.training.models import load_model

    config = TrainConfig.from_dict(runs.read_config(run_dir).config)
    data = prepare_data(config)
    points = []
    for path in sorted((run_dir / "snapshots").glob("*min.keras"),
                       key=lambda p: float(p.name.removesuffix("min.keras"))):
        proba = predict_proba(load_model(path), data.test.images, tta=config.tta,
                              shift=config.tta_shift)
        metrics = compute_metrics(data.test.labels, proba, data.classes)
        points.append((path.name.removesuffix(".keras"), metrics["accuracy"]))
    metrics = runs.read_metrics(run_dir) or {}
    if "test" in metrics:
        points.append((f"end ({metrics.get('seconds', 0) / 60:.0f} min)",
                       metrics["test"]["accuracy"]))
    return points


def peak_memory_mb() -> float:
    """The process's peak resident memory (Linux reports it in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_time_to_accuracy(run_dirs: list[Path]) -> None:
    print("\nTime to accuracy (test accuracy of the best model so far):")
    print("| run | after | test accuracy |")
    print("| --- | --- | ---: |")
    for run_dir in run_dirs:
        for label, accuracy in time_to_accuracy(run_dir):
            print(f"| {run_dir.name} | {label} | {accuracy:.2%} |")


def result_row(run_dir: Path) -> dict:
    from fer_core import runs

    record = runs.read_config(run_dir)
    metrics = runs.read_metrics(run_dir) or {}
    test = metrics.get("test", {})
    recalls = {name: values["recall"] for name, values in test.get("per_class", {}).items()}
    return {
        "run": run_dir.name,
        "preset": record.get("preset") or record["config"]["backbone"],
        "overrides": " ".join(record.get("overrides", [])),
        "classes": len(metrics.get("classes", [])),
        "test_accuracy": test.get("accuracy"),
        "macro_f1": test.get("macro_f1"),
        "recall": recalls,
        "minutes": metrics.get("seconds", 0) / 60,
        "epochs": metrics.get("epochs"),
        "tta": metrics.get("tta"),
        "tta_shift": metrics.get("tta_shift", 0),
        "device": record.get("environment", {}).get("device", "?"),
    }


def tta_label(row: dict) -> str:
    """How the row's test predictions were averaged, for its label."""
    views = (["flip"] if row["tta"] else []) + (
        [f"shift {row['tta_shift']}"] if row["tta_shift"] else [])
    return f" + {' and '.join(views)} TTA" if views else ""


def print_table(rows: list[dict]) -> None:
    print(f"Machine: {describe_machine()}\n")
    print("| recipe | classes | test accuracy | macro-F1 | minutes | epochs | device |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for quoted in QUOTED:
        print(f"| seed report: {quoted.recipe} ({quoted.preset}) | {quoted.classes} | "
              f"{quoted.accuracy:.2%} | | hours (Colab) | | Colab GPU |")
    for row in rows:
        label = f"{row['preset']} {row['overrides']}".strip() + tta_label(row)
        print(f"| {label} | {row['classes']} | {row['test_accuracy']:.2%} | "
              f"{row['macro_f1']:.3f} | {row['minutes']:.1f} | {row['epochs']} | "
              f"{row['device']} |")
    if rows:
        print("\nPer-class test recall:")
        names = list(rows[0]["recall"])
        print("| run | " + " | ".join(names) + " |")
        print("| --- |" + " ---: |" * len(names))
        for row in rows:
            print(f"| {row['run']} | " + " | ".join(
                f"{row['recall'].get(n, 0):.2f}" for n in names) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", default=[])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs"))
    parser.add_argument("--report", type=Path, nargs="*", default=None,
                        help="only print the table of these finished run folders")
    parser.add_argument("--marks", type=float, nargs="*", default=list(DEFAULT_MARKS),
                        help="minutes at which to snapshot the best model for time to accuracy")
    args = parser.parse_args(argv)
    if args.report is not None:
        from fer_core import runs

        finished = [p for p in args.report if runs.files(p).metrics.exists()]
        print_table([result_row(p) for p in finished])
        print_time_to_accuracy(finished)
        return 0
    if not args.data.exists():
        sys.exit(f"No data at {args.data}; pass --data PATH to a FER-2013 download.")
    run_dirs = [train_preset(name, args.set, args.data, args.runs_dir, tuple(args.marks))
                for name in args.preset or ["fast-cpu"]]
    print_table([result_row(p) for p in run_dirs])
    print_time_to_accuracy(run_dirs)
    print(f"\nPeak memory of this process (training included): {peak_memory_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
