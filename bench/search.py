"""Does a search beat the hand-tuned recipe? Three steps, each resumable, on one runs folder:

    python -m bench.search search --data ../shared/fer2013 --runs-dir bench-search   # 3 h
    python -m bench.search compare --runs-dir bench-search                          # 1 h
    python -m bench.search grid --data ../shared/fer2013 --runs-dir bench-search    # 1.5 h

``search`` runs (or, run again, resumes) a search around ``fast-cpu``: learning rate, weight
decay, optimizer, dropout, label smoothing, crop padding and batch size, each trial on a budget
of its own (``--trial-minutes``), for at most ``--minutes`` of search time in all (resumes
count what was spent). ``compare`` trains the best settings at ``fast-cpu-30min``'s 30 minutes
and ``fast-cpu-30min`` itself, back to back in the queue, then prints both test accuracies and
their difference with a paired bootstrap interval over the test faces. ``grid`` runs the sweep
that exists (learning rate x dropout, 3 x 3, each a tenth of ``--minutes``) and compares its
best validation accuracy with what the search had found after as many minutes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.machine import describe_machine
from fer_core import runs, tasks
from fer_core.core.config import preset
from fer_core.core.search_space import SearchPlan, parse_dimension
from fer_core.data import DataRef
from fer_core.runs import searches
from fer_core.tasks import runner

SPACE = ("learning_rate=1e-4:1e-2", "weight_decay=1e-5:1e-2", "optimizer=adam,adamw,sgd",
         "dropout=0.2:0.6", "label_smoothing=0:0.2", "random_crop=0:8", "batch_size=32,64,128")
GRID = {"learning_rate": [3e-4, 1e-3, 3e-3], "dropout": [0.3, 0.4, 0.5]}
RESAMPLES = 10_000


def run_search(data: str, root: Path, *, minutes: float, trial_minutes: float) -> Path:
    """The search of this runs folder, started or resumed; it returns when it ends."""
    existing = searches.search_folders(root)
    if existing:
        task_dir = existing[0]
        if runs.read_status(task_dir).ended:
            runs.requeue(task_dir)
        runner.run_task(task_dir)
        return task_dir
    base = preset("fast-cpu").replace(data=str(DataRef.parse(data)))
    plan = SearchPlan(base=base.to_dict(), dimensions=tuple(map(parse_dimension, SPACE)),
                      trial_minutes=trial_minutes, minutes=minutes, preset="fast-cpu")
    return tasks.run_here(searches.KIND, searches.spec(plan), runs_root=root)


def test_correct(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Test image ids and whether the run got each right."""
    predictions = runs.read_predictions(run_dir)
    test = predictions[predictions["split"] == "test"].sort_values("id")
    return test["id"].to_numpy(), (test["true"] == test["pred"]).to_numpy()


def paired_difference(first: Path, second: Path, *, seed: int = 0) -> tuple[float, float, float]:
    """Test accuracy of ``first`` minus ``second``, with a 95% paired bootstrap interval: the
    same resampled faces score both runs."""
    ids_a, a = test_correct(first)
    ids_b, b = test_correct(second)
    if not np.array_equal(ids_a, ids_b):
        raise SystemExit("The two runs were not scored on the same test faces.")
    picks = np.random.default_rng(seed).integers(0, len(a), size=(RESAMPLES, len(a)))
    differences = a[picks].mean(axis=1) - b[picks].mean(axis=1)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(low), float(high)


def compare(root: Path) -> None:
    task_dir = searches.search_folders(root)[0]
    searched = searches.best_config(task_dir).replace(time_budget_min=30.0)
    reference = preset("fast-cpu-30min").replace(data=searched.data)
    launched = [tasks.launch(searched, runs_root=root, preset="fast-cpu-30min",
                             display_name=f"best of {task_dir.name}, 30 min"),
                tasks.launch(reference, runs_root=root, preset="fast-cpu-30min")]
    for run_dir in launched:
        tasks.wait(run_dir)
    summary = searches.read_summary(task_dir)
    counts = searches.counts(summary)
    print(f"Machine: {describe_machine()}\n")
    print(f"Search {task_dir.name}: {summary['seconds'] / 60:.0f} minutes, "
          f"{counts['complete']} trials finished, {counts['pruned']} pruned, "
          f"{counts['fail']} failed; best validation accuracy {summary['best']['value']:.2%} "
          f"with {searches.shown_params(summary['best']['params'])}\n")
    print("| recipe | run | test accuracy | macro-F1 |\n| --- | --- | ---: | ---: |")
    for name, run_dir in zip(("searched, 30 min", "fast-cpu-30min"), launched, strict=True):
        test = (runs.read_metrics(run_dir) or {}).get("test", {})
        print(f"| {name} | {run_dir.name} | {test.get('accuracy', float('nan')):.2%} | "
              f"{test.get('macro_f1', float('nan')):.3f} |")
    difference, low, high = paired_difference(*launched)
    print(f"\nSearched minus hand-tuned: {difference:+.2%} (95% paired bootstrap interval "
          f"{low:+.2%} to {high:+.2%}, {RESAMPLES:,} resamples of the test faces)")


def grid(data: str, root: Path, *, minutes: float) -> None:
    base = preset("fast-cpu").replace(data=str(DataRef.parse(data)),
                                      time_budget_min=minutes / 9)
    run_dirs = tasks.launch_sweep(base, GRID, preset="fast-cpu", runs_root=root)
    for run_dir in run_dirs:
        tasks.wait(run_dir)
    scores = [(runs.read_metrics(d) or {}).get("val", {}).get("accuracy", 0.0) for d in run_dirs]
    summary = searches.read_summary(searches.search_folders(root)[0])
    early = searches.progress_frame(summary)
    early = early[(early["minutes"] <= minutes) & (early["state"] == "finished")]
    print(f"Machine: {describe_machine()}\n")
    print("| way | minutes | trials | best validation accuracy |\n| --- | ---: | ---: | ---: |")
    print(f"| grid, learning rate x dropout | {minutes:g} | {len(run_dirs)} | {max(scores):.2%} |")
    print(f"| search, its first {minutes:g} minutes | {minutes:g} | {len(early)} finished | "
          f"{early['value'].max():.2%} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["search", "compare", "grid"])
    parser.add_argument("--data", default="../shared/fer2013")
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-search"))
    parser.add_argument("--minutes", type=float, default=None,
                        help="search: 180 (its whole time); grid: 90")
    parser.add_argument("--trial-minutes", type=float, default=6.0)
    args = parser.parse_args(argv)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    if args.step == "search":
        task_dir = run_search(args.data, args.runs_dir, minutes=args.minutes or 180.0,
                              trial_minutes=args.trial_minutes)
        print(f"Search {task_dir.name}: {runs.read_status(task_dir).state}")
    elif args.step == "compare":
        compare(args.runs_dir)
    else:
        grid(args.data, args.runs_dir, minutes=args.minutes or 90.0)


if __name__ == "__main__":
    main()
