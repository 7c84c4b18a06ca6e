"""``features``: a run's features of every face and its map, computed here in the foreground
(the same task the Results page queues), then how well the feature space agrees with the
labels. Its flags are in ``fer_core.cli``'s one table; the work is here."""

from __future__ import annotations

import argparse
import json
import sys

from fer_core import runs, tasks
from fer_core.data import DataRef
from fer_core.inference.neighbours import DEFAULT_K, TrainingFaces, knn_accuracy
from fer_core.runs import features as store
from fer_core.tasks import features as features_task


def compute(args: argparse.Namespace) -> int:
    run_dir = args.run_dir
    data = DataRef.parse(args.data) if args.data else None
    task_dir = tasks.run_here(features_task.KIND, features_task.spec(run_dir, data=data),
                              subject=run_dir.resolve().name, runs_root=run_dir.resolve().parent)
    status = runs.read_status(task_dir)
    if status.state != "succeeded":
        print(f"error: the features task {status.state}: {status.error or 'see its log'} "
              f"({runs.files(task_dir).log})", file=sys.stderr)
        return 1
    meta = store.read_meta(run_dir) or {}
    agreement, per_class = knn_accuracy(TrainingFaces.of_run(run_dir), "test", DEFAULT_K)
    model = per_class["faces"].mul(per_class["model_accuracy"]).sum() / per_class["faces"].sum()
    if args.json:
        print(json.dumps({**meta, "knn_accuracy": {"k": DEFAULT_K, "test": agreement,
                                                   "model_test": float(model)},
                          "per_class": per_class.reset_index().to_dict(orient="records")},
                         indent=2))
        return 0
    faces = meta.get("faces", {})
    seconds = meta.get("seconds", {})
    print(f"{run_dir.name}: features of {sum(faces.values()):,} faces "
          f"({', '.join(f'{n:,} {split}' for split, n in faces.items())}), "
          f"{meta.get('dimensions')} numbers each, kept as {meta.get('kept_dimensions')} "
          f"({meta.get('variance_kept', 1):.1%} of their variance); "
          f"{seconds.get('features', 0):.0f} s for the features, {seconds.get('map', 0):.0f} s "
          f"for the map; in {store.folder(run_dir)}")
    print(f"Test faces whose {DEFAULT_K} nearest training faces mostly share their label: "
          f"{agreement:.1%} (the model: {model:.1%})")
    print(per_class.to_string(float_format=lambda v: f"{v:.3f}"))
    return 0
