"""Suspect labels on the real FER-2013: how many are flagged, and how long the pass takes.

    python -m bench.suspects [PATH] [--folds 5] [--epochs 3] [--per-class N]
                                                            # default: ../shared/fer2013

``--per-class N`` keeps at most N training images per class (seeded), for a machine too busy
for the whole pass; the table then also gives the measured training speed and, from it, the
whole pass's time on this machine.

The whole out-of-fold pass (``fer_core.tasks.suspects.find_suspects``) runs in this process;
the table gives its wall time and CPU time, the host, and the load average before and after
(the machine may be shared: CPU seconds / wall seconds shows how much of it the pass got).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from dataclasses import replace
from pathlib import Path

from bench.machine import describe_machine

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "fer2013"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--per-class", type=int, default=0)
    args = parser.parse_args()

    from fer_core.data import load_dataset, subsample_per_class
    from fer_core.tasks.suspects import DEFAULT_EPOCHS, csv_path, find_suspects

    epochs = args.epochs or DEFAULT_EPOCHS
    full = load_dataset(args.data)
    ds = full
    if args.per_class:  # its own cache key: the app must not show it as the whole set's result
        ds = replace(subsample_per_class(full, args.per_class, seed=0),
                     fingerprint=f"{full.fingerprint}-per-class-{args.per_class}")
    load_before = os.getloadavg()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    table, n_images = find_suspects(ds, folds=args.folds, epochs=epochs)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    load_after = os.getloadavg()

    print(f"Host: {describe_machine()}")
    print(f"Load average (1/5/15 min) before {_load(load_before)}, after {_load(load_after)}")
    print("| data | folds | epochs per fold | images judged | flagged | share | wall | CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {ds.name} | {args.folds} | {epochs} | {n_images:,} | {len(table):,} | "
          f"{len(table) / n_images:.1%} | {wall / 60:.1f} min | {cpu / 60:.1f} min |")
    trained = args.folds * (1 - 1 / args.folds) * 0.9 * n_images * epochs  # images x epochs
    whole = int(full.index["split"].isin(("train", "val")).sum())
    print(f"Training speed over the whole pass (overheads included): {trained / wall:.0f} "
          f"images/s wall, {trained / cpu:.0f} per CPU second; all {whole:,} training images "
          f"would take about {wall * whole / n_images / 60:.0f} min here at that speed")
    print("Pairs (given -> suggested) among the flagged:")
    pairs = table.groupby(["given", "suggested"]).size().sort_values(ascending=False).head(8)
    for (given, suggested), n in pairs.items():
        print(f"  {given} -> {suggested}: {n:,}")
    print(f"suspects.csv: {csv_path(ds.fingerprint)}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
