"""The command line: every step the app offers, for terminals, scripts and GPU servers.

    python -m fer_core data info [--data PATH] [--json]
    python -m fer_core data audit [--data PATH] [--json]
    python -m fer_core data demo OUT_DIR
    python -m fer_core train [--preset NAME] [--config FILE] [--set key=value ...] [--data PATH]
                             [--run-dir DIR]
    python -m fer_core evaluate RUN_DIR [--data PATH] [--split test] [--tta]
                                [--tta-shift N] [--json]
    python -m fer_core evaluate --ensemble RUN_DIR RUN_DIR ... [--data PATH] [--json]
    python -m fer_core predict RUN_DIR IMAGE... [--json]
    python -m fer_core runs list [--json]
    python -m fer_core runs export-mlflow RUN_DIR... [--tracking-uri URI]
    python -m fer_core jobs launch [--preset NAME] [--set key=value ...] [--data PATH] [--json]
                                   [--backend local|ray] [--address URL] [--gpus N]
    python -m fer_core jobs list [--json] | jobs cancel RUN_ID | jobs resume RUN_ID
    python -m fer_core jobs wait RUN_ID

A ``FerError`` prints one line (``error: ...``) and exits 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from fer_core import settings
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
    from fer_core.data.loading import LoadReport

    fields = {k: v for k, v in summary["load_report"].items() if k in LoadReport.__annotations__}
    return LoadReport(**fields).summary()


def _data_audit(args: argparse.Namespace) -> int:
    from fer_core.data import load_dataset
    from fer_core.data.audit import audit

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
    from fer_core.data.demo import generate_demo_dataset

    out = generate_demo_dataset(args.out_dir, seed=args.seed)
    print(f"Synthetic demo data set written to {out}")
    return 0


# --- train, evaluate, predict --------------------------------------------------------------------

@command
def _train_command(sub: argparse._SubParsersAction) -> None:
    from fer_core.config import PRESETS

    train = sub.add_parser("train", help="train a model into a run folder")
    train.add_argument("--preset", choices=sorted(PRESETS), help="start from a named recipe")
    train.add_argument("--config", type=Path, help="a JSON file of TrainConfig fields")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one field (repeatable), e.g. --set epochs=3")
    train.add_argument("--data", help="folder, fer2013.csv or .zip (default: FER_DATA_DIR/demo)")
    train.add_argument("--run-dir", type=Path, help="the run folder (default: a new one in runs/)")
    train.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from fer_core import runs
    from fer_core.config import resolve_config

    run_dir: Path | None = args.run_dir
    if run_dir is not None and runs.is_run(run_dir) and not (
        args.preset or args.config or args.set or args.data
    ):
        status = runs.read_status(run_dir)
        if status.ended:
            # A backend cannot always drop a pending job (Ray cannot): one cancelled while it
            # waited starts here, briefly, and stops.
            print(f"Run {run_dir.name} is already {status.state}; not training it.")
            return 0
        config = _config_of_run(run_dir)  # a queued job: its config was written at launch
    else:
        config = resolve_config(preset_name=args.preset, config_file=args.config,
                                overrides=args.set, data=args.data)
        run_dir = run_dir or runs.run_path(runs.new_run_id(args.preset or config.backbone))
        runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": args.preset})
    print(f"Run folder: {run_dir}", flush=True)
    from fer_core.training.trainer import train

    metrics = train(config, run_dir)
    for split in ("val", "test"):
        if split in metrics:
            m = metrics[split]
            print(f"{split}: accuracy {m['accuracy']:.4f}, loss {m['loss']:.4f}, "
                  f"macro-F1 {m['macro_f1']:.4f} ({m['n']:,} images)")
    return 0


def _config_of_run(run_dir: Path):
    from fer_core import runs
    from fer_core.config import TrainConfig

    return TrainConfig.from_dict(runs.read_config(run_dir).config)


@command
def _evaluate_command(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser("evaluate", help="evaluate saved runs on any data set")
    evaluate.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    evaluate.add_argument("--ensemble", action="store_true", help="average the runs' predictions")
    evaluate.add_argument("--data", help="folder, fer2013.csv or .zip (default: the run's data)")
    evaluate.add_argument("--split", default="test", choices=["train", "val", "test"])
    evaluate.add_argument("--tta", action="store_true", help="average with mirrored images")
    evaluate.add_argument("--tta-shift", type=int, default=0, metavar="PIXELS",
                          help="also average over images shifted this far (e.g. 4)")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from fer_core.errors import RunError
    from fer_core.runs.evaluation import evaluate_ensemble, evaluate_run

    if args.ensemble:
        result = evaluate_ensemble(args.run_dirs, data=args.data, split=args.split, tta=args.tta,
                                   shift=args.tta_shift)
    elif len(args.run_dirs) == 1:
        result = evaluate_run(args.run_dirs[0], data=args.data, split=args.split, tta=args.tta,
                              shift=args.tta_shift)
    else:
        raise RunError("Give one RUN_DIR, or several with --ensemble.")
    if args.json:
        print_json(result)
        return 0
    print(f"{args.split}: accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}, "
          f"macro-F1 {result['macro_f1']:.4f} ({result['n']:,} images)")
    for pair in result["most_confused"][:3]:
        print(f"  {pair['true']} taken for {pair['predicted']}: {pair['count']} times")
    return 0


@command
def _predict_command(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser("predict", help="emotion probabilities for face images")
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from fer_core.data.loading import decode_image
    from fer_core.errors import DataError
    from fer_core.runs.evaluation import predict_images

    faces = []
    for path in args.images:
        try:
            faces.append(decode_image(path)[0])
        except (ValueError, FileNotFoundError) as err:
            raise DataError(f"{path} could not be read as an image: {err}.") from err
    classes, proba = predict_images([args.run_dir], np.stack(faces))
    results = [
        {"image": str(path), "prediction": classes[int(p.argmax())],
         "probabilities": {c: round(float(v), 4) for c, v in zip(classes, p, strict=True)}}
        for path, p in zip(args.images, proba, strict=True)
    ]
    if args.json:
        print_json(results)
        return 0
    for result in results:
        ranked = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])
        print(f"{result['image']}: {result['prediction']}  "
              + "  ".join(f"{c} {v:.1%}" for c, v in ranked[:3]))
    return 0


@command
def _runs_command(sub: argparse._SubParsersAction) -> None:
    runs_parser = sub.add_parser("runs", help="list run folders").add_subparsers(
        dest="runs_command", required=True)
    listing = runs_parser.add_parser("list", help="every run, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_runs_list)
    export = runs_parser.add_parser(
        "export-mlflow", help="log finished runs to MLflow (config, curves, metrics, files)")
    export.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    export.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI")
    export.set_defaults(handler=_runs_export_mlflow)


def _runs_list(args: argparse.Namespace) -> int:
    from fer_core import runs

    table = runs.runs_table(runs.list_runs())
    if args.json:
        print_json(table.to_dict(orient="records"))
    elif table.empty:
        print(f"No runs in {settings.runs_dir()}.")
    else:
        columns = ["run", "state", "backbone", "val_accuracy", "test_accuracy", "minutes"]
        print(table[columns].to_string(index=False))
    return 0


def _runs_export_mlflow(args: argparse.Namespace) -> int:
    from fer_core import tracking

    for run_dir in args.run_dirs:
        mlflow_id, new = tracking.export_run(run_dir, tracking_uri=args.tracking_uri)
        print(f"{run_dir.name}: MLflow run {mlflow_id}" + ("" if new else " (already there)"))
    return 0


# --- background jobs -----------------------------------------------------------------------------

@command
def _jobs_commands(sub: argparse._SubParsersAction) -> None:
    from fer_core.config import PRESETS

    jobs = sub.add_parser("jobs", help="background training jobs").add_subparsers(
        dest="jobs_command", required=True)
    launch = jobs.add_parser("launch", help="queue a training job; prints its run id")
    launch.add_argument("--preset", choices=sorted(PRESETS))
    launch.add_argument("--config", type=Path)
    launch.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    launch.add_argument("--data")
    launch.add_argument("--json", action="store_true")
    launch.add_argument("--backend", choices=settings.JOB_BACKENDS,
                        help="where the job runs (default: FER_JOBS_BACKEND, else local)")
    launch.add_argument("--address", help="Ray job API address (default: RAY_ADDRESS), "
                        "e.g. http://head:8265")
    launch.add_argument("--gpus", type=float, help="GPUs per Ray job (default: FER_RAY_GPUS, "
                        "else 0; 1 on a GPU cluster)")
    launch.set_defaults(handler=_jobs_launch)
    listing = jobs.add_parser("list", help="jobs with their state and progress")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_jobs_list)
    for name, handler, text in (("cancel", _jobs_cancel, "cancel a queued or running job"),
                                ("resume", _jobs_resume, "continue a failed job from its last "
                                 "finished epoch"),
                                ("wait", _jobs_wait, "block until a job ends; exit 0 if it "
                                 "succeeded")):
        parser = jobs.add_parser(name, help=text)
        parser.add_argument("run_id")
        parser.set_defaults(handler=handler)
    worker = jobs.add_parser("worker", help="(internal) serve the local queue until empty")
    worker.add_argument("--runs-dir", type=Path, required=True)
    worker.set_defaults(handler=_jobs_worker)


def _jobs_launch(args: argparse.Namespace) -> int:
    from fer_core import jobs
    from fer_core.config import resolve_config

    config = resolve_config(preset_name=args.preset, config_file=args.config,
                            overrides=args.set, data=args.data)
    backend = jobs.backend_from_env(args.backend, address=args.address, num_gpus=args.gpus)
    run_dir = jobs.launch(config, preset=args.preset, backend=backend)
    print_json({"run_id": run_dir.name}) if args.json else print(run_dir.name)
    return 0


def _jobs_list(args: argparse.Namespace) -> int:
    from fer_core import jobs, runs

    rows = []
    for info in runs.list_runs():
        if not info.status.ended:
            jobs.refresh(info.path)  # what only the job's backend knows (a Ray job lost)
            info = runs.read_run(info.path)
        progress = info.status.progress
        rows.append({"run_id": info.run_id, "state": info.state,
                     "progress": progress.fraction if progress else None,
                     "backend": info.status.backend.kind, "error": info.status.error})
    if args.json:
        print_json(rows)
    for row in rows if not args.json else []:
        fraction = f"{row['progress']:.0%}" if row["progress"] is not None else ""
        print(f"{row['run_id']:<40} {row['state']:<10} {row['backend']:<6} {fraction}")
    return 0


def _jobs_cancel(args: argparse.Namespace) -> int:
    from fer_core import jobs, runs

    run_dir = _existing_run(args.run_id)
    jobs.cancel(run_dir)
    print(f"{args.run_id}: {runs.effective_state(runs.read_status(run_dir))}")
    return 0


def _jobs_resume(args: argparse.Namespace) -> int:
    from fer_core import jobs

    jobs.resume(_existing_run(args.run_id))
    print(f"{args.run_id}: queued to resume")
    return 0


def _jobs_wait(args: argparse.Namespace) -> int:
    from fer_core import jobs

    state = jobs.wait(_existing_run(args.run_id))
    print(f"{args.run_id}: {state}")
    return 0 if state == "succeeded" else 1


def _jobs_worker(args: argparse.Namespace) -> int:
    from fer_core import jobs

    jobs.run_worker(args.runs_dir)
    return 0


def _existing_run(run_id: str) -> Path:
    from fer_core import runs
    from fer_core.errors import RunError

    path = runs.run_path(run_id)
    if not runs.is_run(path):
        raise RunError(f"No run {run_id!r} in {path.parent}.")
    return path


# --- entry point ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except FerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
