"""The command line: every step the app offers, for terminals, scripts and GPU servers.

``build_parser`` is the table of commands and flags (``python -m fer_core --help`` prints it).
A ``FerError`` prints one line (``error: ...``) and exits 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fer_core.cli import features as cli_features
from fer_core.cli import trust as cli_trust
from fer_core.core import settings
from fer_core.core.errors import FerError, RunError
from fer_core.core.vocabulary import for_people, label, text

if TYPE_CHECKING:
    from fer_core.core.config import TrainConfig
    from fer_core.data import DataRef

Handler = Callable[[argparse.Namespace], int | None]  # None: exit status 0
Argument = tuple[tuple[str, ...], dict[str, Any]]


def _arg(*flags: str, **options: Any) -> Argument:
    return flags, options


JSON = _arg("--json", action="store_true")
DATA = _arg("--data", help="folder, fer2013.csv, .zip or demo (default: FER_DATA_DIR, else demo)")
RUN_DIR = _arg("run_dir", type=Path, metavar="RUN_DIR")
RUN_DIRS = _arg("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
RUN_ID = _arg("run_id")
IMAGES = _arg("images", type=Path, nargs="+", metavar="IMAGE")
NO_CALIBRATION = _arg("--no-calibration", action="store_true",
                      help="raw probabilities, without the run's fitted temperature")
CONFIG = _arg("--config", type=Path, help="a JSON file of TrainConfig fields")
SET = _arg("--set", action="append", default=[], metavar="KEY=VALUE",
           help="override one field (repeatable), e.g. --set epochs=3")


def _command(sub: argparse._SubParsersAction, name: str, handler: Handler, help_text: str,
             *arguments: Argument) -> None:
    parser = sub.add_parser(name, help=help_text)
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    parser.set_defaults(handler=handler)


def _group(sub: argparse._SubParsersAction, name: str, help_text: str):
    """A command with sub-commands of its own, such as ``data info``."""
    parser = sub.add_parser(name, help=help_text)
    return parser.add_subparsers(dest=f"{name}_command", required=True)


def build_parser() -> argparse.ArgumentParser:
    from fer_core.core.config import PRESETS
    from fer_core.export import FORMATS as EXPORT_FORMATS
    from fer_core.tasks.kinds import LANES
    from fer_core.tasks.studies import STUDIES

    preset = _arg("--preset", choices=sorted(PRESETS), help="start from a named recipe")
    parser = argparse.ArgumentParser(
        prog="python -m fer_core", description="FER Studio: facial emotion recognition workbench.")
    sub = parser.add_subparsers(dest="command", required=True)
    data = _group(sub, "data", "inspect a data set")
    _command(data, "info", _data_info, "counts per split and class, imbalance, load report",
             DATA, _arg("--json", action="store_true", help="machine-readable output"))
    _command(data, "audit", _data_audit, "image quality, duplicates and train/test leakage",
             DATA, JSON)
    _command(data, "suspects", _data_suspects,
             "likely wrong training labels (out-of-fold models + cleanlab); writes suspects.csv",
             DATA,
             _arg("--folds", type=int, default=5, help="models, each judging 1/FOLDS (default 5)"),
             _arg("--epochs", type=int, default=None, help="per fold (default 8)"), JSON)
    _command(data, "exclude-suspects", _data_exclude_suspects,
             "leave the N most suspect labels out of jobs launched from now on (--undo: back)",
             _arg("--top", type=int, required=True, metavar="N",
                  help="how many, most suspect first"),
             DATA,
             _arg("--undo", action="store_true", help="train on those N as given again"))
    _command(data, "demo", _data_demo, "write the synthetic demo data set to a folder",
             _arg("out_dir", type=Path), _arg("--seed", type=int, default=0))
    _command(sub, "train", _train, "train a model into a run folder", preset, CONFIG, SET, DATA,
             _arg("--run-dir", type=Path, help="the run folder (default: a new one in runs/)"))
    _command(sub, "estimate", _estimate, "how long a config trains on this machine (measures "
             "a few steps once, then cached)", preset, CONFIG, SET, DATA, JSON)
    _command(sub, "evaluate", _evaluate, "evaluate saved runs on any data set", RUN_DIRS,
             _arg("--ensemble", action="store_true", help="average the runs' predictions"),
             _arg("--data", help="folder, fer2013.csv or .zip (default: the run's data)"),
             _arg("--split", default="test", choices=["train", "val", "test"]),
             _arg("--tta", action="store_true", help="average with mirrored images"),
             _arg("--tta-shift", type=int, default=0, metavar="PIXELS",
                  help="also average over images shifted this far (e.g. 4)"), JSON,
             NO_CALIBRATION)
    _command(sub, "predict", _predict, "find the faces in photos and classify each", RUN_DIR,
             IMAGES,
             _arg("--whole", action="store_true",
                  help="no face found: use the whole photo (its centre square) as the face"),
             _arg("--neighbours", type=int, default=0, metavar="K",
                  help="also list the K training faces nearest each face in the model's "
                       "feature space (needs the run's features: the features command)"),
             JSON, NO_CALIBRATION)
    _command(sub, "features", cli_features.compute, "a run's features of every face and its "
             "2-D map (UMAP), for the Map tab and nearest examples", RUN_DIR,
             _arg("--data", help="folder, fer2013.csv or .zip (default: the run's data)"), JSON)
    _command(sub, "explain", cli_trust.explain, "Grad-CAM overlays: where each face's "
             "evidence lies", RUN_DIR, IMAGES,
             _arg("--out", type=Path, required=True, metavar="DIR",
                  help="folder for the overlay PNGs"),
             _arg("--class", dest="class_", metavar="NAME",
                  help="explain this class (default: the predicted one)"), JSON)
    _command(sub, "calibrate", cli_trust.calibrate, "fit a run's temperature on validation "
             "(runs trained before calibration existed)", RUN_DIRS, JSON)
    _command(sub, "export", _export, "export a run's model and check it agrees with Keras",
             RUN_DIR, _arg("--format", default="all", choices=[*EXPORT_FORMATS, "all"]),
             _arg("--out", type=Path, help="output folder (default: RUN_DIR/export)"), JSON)
    _command(sub, "video", _video, "emotions over time in a video: a CSV and a labelled copy",
             RUN_DIR, _arg("video", type=Path, metavar="VIDEO"),
             _arg("--out", type=Path, required=True, metavar="DIR", help="where results go"),
             _arg("--every", type=int, default=1, metavar="N",
                  help="score every N-th frame (default 1: every frame)"),
             _arg("--tta", action="store_true", help="test-time augmentation, as Predict's"),
             _arg("--whole", action="store_true",
                  help="no face found: use the centre square (for clips of face crops)"), JSON)
    runs_ = _group(sub, "runs", "list run folders")
    _command(runs_, "list", _runs_list, "every run, newest first", JSON)
    _command(runs_, "card", _runs_card, "write MODEL_CARD.md for finished runs", RUN_DIRS)
    _command(runs_, "report", _runs_report, "the HTML report of one run, or a comparison of "
             "several: the file Results' Share tab downloads", RUN_DIRS, DATA,
             _arg("--out", type=Path, required=True, help="the .html file to write"))
    _command(runs_, "export-mlflow", _runs_export_mlflow,
             "log finished runs to MLflow (config, curves, metrics, files)", RUN_DIRS,
             _arg("--tracking-uri", help="default: MLFLOW_TRACKING_URI"))
    _search_commands(_group(sub, "search", "let Optuna find a recipe: trials, pruning, "
                            "the best settings"), preset)
    jobs = _group(sub, "jobs", "background training jobs")
    _command(jobs, "launch", _jobs_launch, "queue a training job; prints its run id",
             preset, CONFIG,
             _arg("--study", choices=sorted(STUDIES),
                  help="queue a study instead: one run per arm of the base config; prints "
                       "their run ids"), SET, DATA, JSON,
             _arg("--backend", choices=settings.JOB_BACKENDS,
                  help="where the job runs (default: FER_JOBS_BACKEND, else local)"),
             _arg("--address",
                  help="Ray job API address (default: RAY_ADDRESS), e.g. http://head:8265"),
             _arg("--gpus", type=float,
                  help="GPUs per Ray job (default: FER_RAY_GPUS, else 0; 1 on a GPU cluster)"))
    _command(jobs, "list", _jobs_list, "jobs of every kind with their state and progress", JSON)
    _command(jobs, "cancel", _jobs_cancel, "cancel a queued or running job", RUN_ID)
    _command(jobs, "resume", _jobs_resume, "continue a failed job from its last finished epoch",
             RUN_ID)
    _command(jobs, "retry", _jobs_retry, "queue a failed or cancelled task again", RUN_ID)
    _command(jobs, "wait", _jobs_wait, "block until a job ends; exit 0 if it succeeded", RUN_ID)
    _command(jobs, "clean", _jobs_clean, "delete ended task folders older than DAYS",
             _arg("--days", type=float, default=30))
    _command(jobs, "worker", _jobs_worker, "(internal) serve a lane of the local queue until "
             "empty", _arg("--runs-dir", type=Path, required=True),
             _arg("--lane", choices=LANES, default="heavy"))
    _command(jobs, "run", _jobs_run, "(internal) run one task folder in this process",
             _arg("--task-dir", type=Path, required=True))
    return parser


def _search_commands(search: argparse._SubParsersAction, preset: Argument) -> None:
    search_id = _arg("search_id", metavar="SEARCH_ID")
    _command(search, "run", _search("run"), "search the --vary fields around a base recipe",
             preset, CONFIG, SET, DATA,
             _arg("--vary", action="append", required=True, metavar="FIELD[=RANGE]",
                  help="a field to search (repeatable): learning_rate=1e-4:1e-2 (a range; "
                       "add :log or :linear), optimizer=adam,sgd (choices), augment (a switch; "
                       "a bare field name searches its whole range)"),
             _arg("--objective", default="val_accuracy", choices=["val_accuracy", "val_macro_f1"]),
             _arg("--trial-minutes", type=float, default=0.0,
                  help="each trial's time budget (default: the base's, else its epochs)"),
             _arg("--minutes", type=float, default=0.0, help="the whole search's time"),
             _arg("--trials", type=int, default=0, help="at most this many trials"),
             _arg("--parallel", type=int, default=1, help="trials at once (Ray: one a worker)"),
             _arg("--keep", type=int, default=3, help="trials that keep their model files"),
             _arg("--seed", type=int, default=0, help="the sampler's seed"),
             _arg("--first", action="append", default=[], metavar="K=V;K=V",
                  help="settings to try right after the base's (repeatable)"),
             _arg("--queue", action="store_true",
                  help="hand it to the queue (or Ray) and print its id, instead of running here"),
             _arg("--backend", choices=settings.JOB_BACKENDS), _arg("--address"),
             _arg("--gpus", type=float), JSON)
    _command(search, "resume", _search("resume"), "go on with a stopped or failed search "
             "here; finished trials are kept", search_id, JSON)
    _command(search, "show", _search("show"), "a search's trials and best settings",
             search_id, JSON)
    _command(search, "export", _search("export"), "the search and its trial runs as one zip "
             "(Results' sidebar imports it)", search_id,
             _arg("--out", type=Path, required=True, help="the .zip file to write"))
    _command(search, "train-best", _search("train_best"), "queue a run with the search's best "
             "settings", search_id,
             _arg("--minutes", type=float, default=0.0, help="a time budget instead of the "
                  "base's schedule"), JSON)


def _search(name: str) -> Handler:
    """A ``search`` sub-command, imported when run (Optuna's import is not free)."""
    def handler(args: argparse.Namespace) -> int | None:
        from fer_core.cli import search

        if name == "run":
            return search.run(args, _config(args))
        return getattr(search, name)(args)
    return handler


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def _print_scores(split: str, scores: dict) -> None:
    print(f"{text('split', split)}: " + ", ".join(
        f"{label(k).lower()} {text(k, scores[k])}" for k in ("accuracy", "loss", "macro_f1"))
        + f" ({text('n', scores['n'])} images)")


# --- data ----------------------------------------------------------------------------------------

def _data(args: argparse.Namespace) -> DataRef:
    """The data a command works on: ``--data``, else FER_DATA_DIR, else the demo."""
    from fer_core.data import DataRef

    return DataRef.parse(args.data)


def _config(args: argparse.Namespace) -> TrainConfig:
    """Preset, config file, ``--set``, ``--data``; a config naming no data gets the default
    (:func:`_data`) written in, so the run records what it trains on."""
    from fer_core.core.config import resolve_config
    from fer_core.data import DataRef

    config = resolve_config(preset_name=args.preset, config_file=args.config,
                            overrides=args.set, data=args.data)
    return config.replace(data=str(DataRef.parse(config.data)))


def _data_info(args: argparse.Namespace) -> None:
    from fer_core.data import imbalance_callout, summarize

    ds = _data(args).load()
    summary = summarize(ds)
    if args.json:
        print_json(summary)
        return
    label = " (synthetic)" if summary["synthetic"] else ""
    print(f"{summary['name']}{label}: {summary['n_images']:,} images at {summary['location']}")
    print(f"{len(ds.classes)} classes found: {', '.join(ds.classes)}")
    splits, width = list(summary["counts"]), max(10, *(len(c) + 2 for c in ds.classes))
    print(f"{'class':<{width}}" + "".join(f"{s:>9}" for s in splits) + f"{'share':>9}")
    for label_name in summary["classes"]:
        row = "".join(f"{summary['counts'][s][label_name]:>9,}" for s in splits)
        print(f"{label_name:<{width}}{row}{summary['train_shares'][label_name]:>9.1%}")
    print(imbalance_callout(summary))
    for line in ds.report.summary():
        print(f"  {line}")


def _data_audit(args: argparse.Namespace) -> None:
    from fer_core.data.audit import audit

    ds = _data(args).load()
    report = audit(ds.images, ds.index)
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"Audit of {ds.name}: {len(ds):,} images")
        for line in report.summary():
            print(f"  {line}")


def _data_suspects(args: argparse.Namespace) -> int:
    from fer_core import runs, tasks
    from fer_core.runs import task_folders
    from fer_core.tasks import suspects

    data = _data(args)
    ds = data.load()
    spec = suspects.spec(data, ds, folds=args.folds, epochs=args.epochs or suspects.DEFAULT_EPOCHS)
    task_dir = tasks.run_here(suspects.KIND, spec, subject=ds.fingerprint)
    status = runs.read_status(task_dir)
    if status.state != "succeeded":
        print(f"error: the pass {status.state}: {status.error or 'see its log'} "
              f"({runs.files(task_dir).log})", file=sys.stderr)
        return 1
    table = suspects.read_suspects(ds.fingerprint)
    judged = int((task_folders.read_result(task_dir) or {}).get("n_images", 0))
    if args.json:
        print_json(suspects.to_json(table, judged))
        return 0
    print(f"{len(table):,} of {judged:,} training images of {ds.name} flagged "
          f"as suspect labels; written to {task_dir / suspects.RESULT}")
    print(table.head(10).to_string(index=False))
    return 0


def _data_exclude_suspects(args: argparse.Namespace) -> None:
    from fer_core.data import overrides
    from fer_core.tasks.suspects import exclude_most_suspect

    ds = _data(args).load()
    count, chosen = exclude_most_suspect(ds, args.top, undo=args.undo)
    done = "back as given" if args.undo else "excluded"
    print(f"The {count:,} most suspect labels of {ds.name} are {done}. Jobs launched on it "
          f"from now on leave out {len(chosen.exclude):,} images and relabel "
          f"{len(chosen.relabel):,} ({overrides.overrides_path(ds.fingerprint)}).")


def _data_demo(args: argparse.Namespace) -> None:
    from fer_core.data.demo import generate_demo_dataset

    out = generate_demo_dataset(args.out_dir, seed=args.seed)
    print(f"Synthetic demo data set written to {out}")


# --- train, evaluate, predict, runs --------------------------------------------------------------

def _train(args: argparse.Namespace) -> None:
    from fer_core import runs
    from fer_core.core.config import TrainConfig

    run_dir: Path | None = args.run_dir
    recipe = args.preset or args.config or args.set or args.data
    if run_dir is not None and runs.is_run(run_dir) and not recipe:  # a job queued earlier
        status = runs.read_status(run_dir)
        if status.ended:
            # A backend cannot always drop a pending job (Ray cannot): one cancelled while it
            # waited starts here, briefly, and stops.
            print(f"Run {run_dir.name} is already {status.state}; not training it.")
            return
        config = TrainConfig.from_dict(runs.read_config(run_dir).config)  # written at launch
    else:
        from fer_core.core.access import ensure_writable

        ensure_writable("Training a new run")
        config = _config(args)
        run_dir = run_dir or runs.run_path(runs.new_run_id(args.preset or config.backbone))
        runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": args.preset})
        from fer_core.data import DataRef
        from fer_core.runs.overrides import copy_into_run

        copy_into_run(run_dir, DataRef.parse(config.data))  # as a launched job gets them
    print(f"Run folder: {run_dir}", flush=True)
    from fer_core.tasks.train import train

    metrics = train(config, run_dir)
    for split in ("val", "test"):
        if split in metrics:
            _print_scores(split, metrics[split])


def _estimate(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from fer_core.data import DataRef
    from fer_core.training import speed

    config = _config(args)
    result = speed.estimate_config(config, DataRef.parse(config.data).load())
    if result is None:
        raise RunError("Nothing to estimate: the config has no epochs in either phase.")
    print_json(asdict(result)) if args.json else print(speed.describe(result))


def _evaluate(args: argparse.Namespace) -> None:
    from fer_core.inference.evaluation import evaluate_ensemble, evaluate_run

    options = {"data": _data(args) if args.data else None, "split": args.split, "tta": args.tta,
               "shift": args.tta_shift, "calibration": not args.no_calibration}
    if args.ensemble:
        result = evaluate_ensemble(args.run_dirs, **options)
    elif len(args.run_dirs) == 1:
        result = evaluate_run(args.run_dirs[0], **options)
    else:
        raise RunError("Give one RUN_DIR, or several with --ensemble.")
    if args.json:
        print_json(result)
        return
    _print_scores(args.split, result)
    cli_trust.print_calibration(result)
    for pair in result["most_confused"][:3]:
        print(f"  {pair['true']} taken for {pair['predicted']}: {pair['count']} times")


def _predict(args: argparse.Namespace) -> None:
    from fer_core.inference.photos import describe, predict_photos

    results = predict_photos([args.run_dir], args.images, whole=args.whole,
                             calibration=not args.no_calibration, neighbours=args.neighbours)
    lines = [line for result in results for line in describe(result)]
    print_json(results) if args.json else print("\n".join(lines))


def _export(args: argparse.Namespace) -> int:
    from fer_core import runs
    from fer_core.export import export_run, formats_of
    from fer_core.export.report import describe

    entries = export_run(args.run_dir, formats_of(args.format), out_dir=args.out)
    metrics = None if args.json else runs.read_metrics(args.run_dir)
    print_json(entries) if args.json else print("\n".join(describe(entries, metrics)))
    return 0 if all(entry["target_met"] for entry in entries) else 1


def _video(args: argparse.Namespace) -> None:
    from fer_core.cli.video import score_from_command_line

    score_from_command_line(args)


def _runs_list(args: argparse.Namespace) -> None:
    from fer_core import runs

    table = runs.runs_table(runs.list_runs())
    if args.json:
        print_json(table.to_dict(orient="records"))
    elif table.empty:
        print(f"No runs in {settings.runs_dir()}.")
    else:
        columns = ["run", "state", "backbone", "val_accuracy", "test_accuracy", "minutes"]
        print(for_people(table, columns).to_string(index=False))


def _runs_card(args: argparse.Namespace) -> None:
    from fer_core.reports.card import write_card

    for run_dir in args.run_dirs:
        print(write_card(run_dir))


def _runs_report(args: argparse.Namespace) -> None:
    from fer_core.core import atomic
    from fer_core.reports.report import report_on

    atomic.write_text(args.out, report_on(args.run_dirs, _data(args)))
    print(args.out)


def _runs_export_mlflow(args: argparse.Namespace) -> None:
    from fer_core import tracking

    for run_dir in args.run_dirs:
        mlflow_id, new = tracking.export_run(run_dir, tracking_uri=args.tracking_uri)
        print(f"{run_dir.name}: MLflow run {mlflow_id}" + ("" if new else " (already there)"))


# --- background jobs -----------------------------------------------------------------------------

def _jobs_launch(args: argparse.Namespace) -> None:
    from fer_core import tasks

    config = _config(args)
    backend = tasks.backend_from_env(args.backend, address=args.address, num_gpus=args.gpus)
    if args.study:
        from fer_core.tasks.studies import launch_study

        run_dirs = launch_study(args.study, config, preset=args.preset, backend=backend)
        ids = [run_dir.name for run_dir in run_dirs]
        print_json({"run_ids": ids}) if args.json else print("\n".join(ids))
        return
    run_dir = tasks.launch(config, preset=args.preset, backend=backend)
    print_json({"run_id": run_dir.name}) if args.json else print(run_dir.name)


def _jobs_list(args: argparse.Namespace) -> None:
    from fer_core import tasks

    rows = [{"run_id": job.path.name, "kind": job.kind, "state": job.state,
             "progress": job.status.progress.fraction if job.status.progress else None,
             "stage": job.status.progress.stage if job.status.progress else None,
             "backend": job.status.backend.kind, "error": job.status.error}
            for job in tasks.list_jobs()]
    if args.json:
        print_json(rows)
        return
    for row in rows:
        fraction = f"{row['progress']:.0%}" if row["progress"] is not None else ""
        print(f"{row['run_id']:<40} {row['kind']:<9} {row['state']:<10} {row['backend']:<6} "
              f"{fraction}")


def _jobs_cancel(args: argparse.Namespace) -> None:
    from fer_core import runs, tasks

    run_dir = _existing_run(args.run_id)
    tasks.cancel(run_dir)
    print(f"{args.run_id}: {runs.effective_state(runs.read_status(run_dir))}")


def _jobs_retry(args: argparse.Namespace) -> None:
    from fer_core import tasks

    tasks.retry(_existing_run(args.run_id))
    print(f"{args.run_id}: queued again")


def _jobs_clean(args: argparse.Namespace) -> None:
    from fer_core.runs import task_folders

    removed = task_folders.clean(older_than_days=args.days)
    print(f"{len(removed)} ended task folder(s) older than {args.days:g} days deleted.")


def _jobs_run(args: argparse.Namespace) -> int:
    from fer_core.tasks import runner

    return runner.run_task(args.task_dir)


def _jobs_resume(args: argparse.Namespace) -> None:
    from fer_core import tasks

    tasks.resume(_existing_run(args.run_id))
    print(f"{args.run_id}: queued to resume")


def _jobs_wait(args: argparse.Namespace) -> int:
    from fer_core import tasks

    state = tasks.wait(_existing_run(args.run_id))
    print(f"{args.run_id}: {state}")
    return 0 if state == "succeeded" else 1


def _jobs_worker(args: argparse.Namespace) -> None:
    from fer_core import tasks

    tasks.run_worker(args.runs_dir, lane=args.lane)


def _existing_run(run_id: str) -> Path:
    """A run's folder, or a task's (their ids never clash: both start with their time)."""
    from fer_core import runs
    from fer_core.runs import task_folders

    path = runs.run_path(run_id)
    if runs.is_run(path):
        return path
    task = runs.run_path(run_id, runs_root=task_folders.root())
    if runs.is_run(task):
        return task
    raise RunError(f"No run or task {run_id!r} in {path.parent}.")


# --- entry point ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except FerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
