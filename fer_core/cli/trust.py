"""The commands that say why a model decided and how sure it is: ``explain`` and
``calibrate``. Their flags are in ``fer_core.cli``'s one table; the work is here."""

from __future__ import annotations

import argparse
import json


def explain(args: argparse.Namespace) -> None:
    from fer_core.inference.evaluation import load_run_model, run_classes
    from fer_core.inference.explain.gradcam import GradCam
    from fer_core.inference.explain.images import explain_files

    classes = run_classes(args.run_dir)
    cam = GradCam(load_run_model(args.run_dir))
    results = explain_files(cam, classes, list(args.images), args.out, class_name=args.class_)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return
    for r in results:
        if r.overlay is None:
            print(f"{r.image}: no face ({r.method})")
        else:
            print(f"{r.image} face {r.face}: {r.explained} ({r.probability:.1%}) -> {r.overlay}")


def calibrate(args: argparse.Namespace) -> None:
    from fer_core import runs
    from fer_core.inference.calibration import fit_run
    from fer_core.reports.card import write_card

    for run_dir in args.run_dirs:
        record = fit_run(run_dir)
        if runs.files(run_dir).model_card.is_file():  # the card's calibration section too
            write_card(run_dir)
        if args.json:
            print(json.dumps({"run": run_dir.name, **record}, indent=2))
            continue
        print(f"{run_dir.name}: temperature {record['temperature']:.3f} (fitted on validation)")
        for split, scores in record["scores"].items():
            before, after = scores["before"], scores["after"]
            print(f"  {split}: ECE {before['ece']:.4f} -> {after['ece']:.4f}, "
                  f"Brier {before['brier']:.4f} -> {after['brier']:.4f}, "
                  f"NLL {before['nll']:.4f} -> {after['nll']:.4f} ({before['n']:,} images)")


def print_calibration(result: dict) -> None:
    """The calibration line under ``evaluate``'s scores."""
    scores, temperature = result.get("calibration"), result.get("temperature")
    if not scores:
        return
    how = f"temperature {temperature:.3f}" if temperature else "uncalibrated"
    print(f"  calibration ({how}): ECE {scores['ece']:.4f}, Brier {scores['brier']:.4f}, "
          f"NLL {scores['nll']:.4f}")
