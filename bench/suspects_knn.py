"""Do the nearest faces find flipped labels? The suspect-labels pass's evidence, compared.

    python -m bench.suspects_knn [--flip-seed 16] [--flip-seed 7] [--folds 3] [--epochs 8]
                                 [--neighbours 10]

For each flip seed: the demo set the suspects test uses (seed 5, 2,800 training faces) with 5%
of its training labels moved to a random other class, one out-of-fold pass (the command's fold
models), and precision@k (k = the number of flips) of cleanlab's ranking under each scoring of
``fer_core.tasks.suspects``: the fold models' probabilities with the labels of each face's
nearest training faces in its fold model's feature space mixed in at several weights (0: the
model alone), and that vote alone. Also the share of
flipped faces whose neighbours mostly carry another label than the (wrong) given one.
Flip seed 16 is the test's; the issue's other flip is any other seed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.machine import describe_machine
from fer_core.core.emotions import EMOTIONS
from fer_core.data import load_dataset
from fer_core.data.demo import generate_demo_dataset
from fer_core.tasks import suspects

N_TRAIN, FLIP_SHARE = 2800, 0.05
WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0)  # parts of the neighbours' vote to one of the model's


def flipped_demo(root: Path, flip_seed: int) -> set[str]:
    """The suspects test's demo set, 5% of its training labels moved (seeded); their ids."""
    generate_demo_dataset(root, seed=5, train_size=N_TRAIN, test_size=len(EMOTIONS))
    files = sorted((root / "train").glob("*/*.png"))
    rng = np.random.default_rng(flip_seed)
    flipped = set()
    for n, path in enumerate(rng.choice(files, round(FLIP_SHARE * len(files)), replace=False)):
        wrong = rng.choice([e for e in EMOTIONS if e != path.parent.name])
        target = root / "train" / wrong / f"moved-{n:04d}.png"
        shutil.move(path, target)
        flipped.add(f"train/{wrong}/{target.name}")
    return flipped


def measure(flip_seed: int, *, folds: int, epochs: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "demo"
        flipped = flipped_demo(root, flip_seed)
        ds = load_dataset(root)
        started = time.perf_counter()
        scope, proba, shares = suspects.out_of_fold_probabilities(
            ds, folds=folds, config=suspects.pass_config(epochs=epochs), work_dir=Path(folder) /
            "folds")
        minutes = (time.perf_counter() - started) / 60
    ids = scope.index["id"].to_numpy(dtype=str)
    is_flipped = np.isin(ids, list(flipped))
    k = int(is_flipped.sum())
    majority_other = shares.argmax(axis=1) != scope.labels
    rows = [f"| {flip_seed} | neighbours mostly carry another label | "
            f"{majority_other[is_flipped].mean():.3f} of flipped, "
            f"{majority_other[~is_flipped].mean():.3f} of the rest | - | {minutes:.1f} min |"]
    evidence = {"neighbours alone": shares, **{
        f"model + {w:g} x neighbours": suspects.scored_probabilities(proba, shares, w)
        for w in WEIGHTS}}
    for scoring, scored in evidence.items():
        table = suspects.rank_suspects(scope, scored)
        top = set(table["file"].head(k))
        found = set(table["file"]) & flipped
        rows.append(f"| {flip_seed} | cleanlab on {scoring} | precision@{k} "
                    f"**{len(top & flipped) / k:.3f}** | {len(table)} flagged, recall "
                    f"{len(found) / k:.3f} | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flip-seed", type=int, action="append", dest="flip_seeds")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=suspects.DEFAULT_EPOCHS)
    parser.add_argument("--neighbours", type=int, default=suspects.NEIGHBOURS)
    args = parser.parse_args()
    suspects.NEIGHBOURS = args.neighbours
    print(f"Machine: {describe_machine()}\n")
    print(f"{args.folds} folds x {args.epochs} epochs, {suspects.NEIGHBOURS} neighbours\n")
    print("| flip seed | evidence | result | also | pass |\n| --- | --- | --- | --- | --- |")
    for seed in args.flip_seeds or [16, 7]:
        print("\n".join(measure(seed, folds=args.folds, epochs=args.epochs)), flush=True)


if __name__ == "__main__":
    main()
