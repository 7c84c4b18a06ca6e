"""``python -m fer_core search ...``: the Train page's Search tab from a terminal.

``run`` searches in this process (Ctrl-C stops it; ``resume`` goes on), or with ``--queue``
hands the search to the queue or Ray; ``show`` prints a search's trials, ``train-best``
launches its best settings as a run, ``export`` zips it with its trial runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer_core import runs, tasks
from fer_core.core.config import TrainConfig, parse_override
from fer_core.core.errors import RunError
from fer_core.core.search_space import SearchPlan, parse_dimension
from fer_core.core.vocabulary import for_people, label, text
from fer_core.runs import searches, task_folders
from fer_core.runs.search_archive import export_search_zip
from fer_core.tasks import runner


def plan_from(args: argparse.Namespace, base: TrainConfig) -> SearchPlan:
    """``--first "learning_rate=0.01;dropout=0.3"``: settings tried right after the base's."""
    first = tuple(dict(parse_override(pair) for pair in item.split(";") if pair.strip())
                  for item in args.first)
    return SearchPlan(base=base.to_dict(), dimensions=tuple(map(parse_dimension, args.vary)),
                      objective=args.objective, trial_minutes=args.trial_minutes,
                      minutes=args.minutes, trials=args.trials, parallel=args.parallel,
                      keep_models=args.keep, seed=args.seed, first=first,
                      preset=args.preset).check()


def run(args: argparse.Namespace, base: TrainConfig) -> int:
    plan = plan_from(args, base)
    spec = searches.spec(plan)
    if args.queue:
        backend = tasks.backend_from_env(args.backend, address=args.address, num_gpus=args.gpus)
        task_dir = tasks.submit(searches.KIND, spec, backend=backend)
        print(json.dumps({"search_id": task_dir.name}) if args.json else task_dir.name)
        return 0
    fit = plan.trials_that_fit()
    print(f"Searching {', '.join(d.name for d in plan.dimensions)}: about {fit or '?'} "
          "trials; Ctrl-C stops it.", file=sys.stderr, flush=True)
    return _report(tasks.run_here(searches.KIND, spec), args.json)


def resume(args: argparse.Namespace) -> int:
    """Run a stopped or failed search again here: finished trials are kept, stopped ones
    queued again with their settings."""
    task_dir = search_dir(args.search_id)
    if not runs.read_status(task_dir).ended:
        raise RunError(f"Search {task_dir.name} is still running.")
    runs.requeue(task_dir)
    runner.run_task(task_dir, log_stream=sys.stderr)
    return _report(task_dir, args.json)


def show(args: argparse.Namespace) -> int:
    return _report(search_dir(args.search_id), args.json, exit_status=False)


def train_best(args: argparse.Namespace) -> None:
    config = searches.best_config(search_dir(args.search_id))
    if args.minutes:
        config = config.replace(time_budget_min=args.minutes)
    run_dir = tasks.launch(config, preset=searches.plan_of(search_dir(args.search_id)).preset)
    print(json.dumps({"run_id": run_dir.name}) if args.json else run_dir.name)


def export(args: argparse.Namespace) -> None:
    """The search and its trial runs as one zip (Results imports it)."""
    args.out.write_bytes(export_search_zip(search_dir(args.search_id)))
    print(args.out)


def search_dir(search_id: str) -> Path:
    path = runs.run_path(search_id, runs_root=task_folders.root())
    if not task_folders.is_task(path) or task_folders.read_task(path).kind != searches.KIND:
        raise RunError(f"No search {search_id!r} in {path.parent}.")
    return path


def _report(task_dir: Path, as_json: bool, *, exit_status: bool = True) -> int:
    status = runs.read_status(task_dir)
    summary = searches.read_summary(task_dir) or {"objective": "val_accuracy", "trials": []}
    if as_json:
        print(json.dumps({"search_id": task_dir.name, "state": status.state,
                          "error": status.error, **summary}, indent=2, default=str))
    else:
        frame = searches.trials_frame(summary)
        minutes = text("minutes", summary.get("seconds", 0) / 60)
        print(f"Search {task_dir.name}: {status.state}, {minutes} minutes"
              + (f" ({status.error})" if status.error else ""))
        if not frame.empty:
            print(for_people(frame).to_string(index=False))
        best = summary.get("best")
        if best:
            settings = ", ".join(f"{label(k).lower()} {text(k, v)}"
                                 for k, v in searches.shown_params(best["params"]).items())
            print(f"Best: trial {best['number']}, {label(summary['objective']).lower()} "
                  f"{text(summary['objective'], best['value'])}: {settings}")
    return 0 if not exit_status or status.state in ("succeeded", "cancelled") else 1
