"""The search: its plan checked before anything runs, Optuna's trials as ordinary training runs
of the queue, pruning, a restart that repeats no finished trial, and the best settings launched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from fer_core import runs, tasks
from fer_core.core.config import preset
from fer_core.core.errors import ConfigError
from fer_core.core.search_space import Dimension, SearchPlan, default_dimension, parse_dimension
from fer_core.runs import searches
from fer_core.tasks import search
from tests.job_support import has_step_progress, poll, tiny

ROOT = Path(__file__).resolve().parents[1]
SEARCH_TIMEOUT = 600  # seconds; about six tiny trainings of ~20 s on 2 cores


def plan(**changes) -> SearchPlan:
    values = {"base": tiny().to_dict(), "dimensions": (parse_dimension("learning_rate"),),
              "trials": 3, **changes}
    return SearchPlan(**values)


# --- the plan ------------------------------------------------------------------------------------

def test_dimensions_parse_ranges_choices_and_switches() -> None:
    assert parse_dimension("learning_rate=1e-4:1e-2") == Dimension(
        "learning_rate", 1e-4, 1e-2, log=True)  # the field says log
    assert parse_dimension("dropout=0.2:0.6").log is False
    assert parse_dimension("dropout=0.2:0.6:log").log is True
    assert parse_dimension("optimizer=adam,sgd").choices == ("adam", "sgd")
    assert parse_dimension("batch_size=32,64").choices == (32, 64)
    assert parse_dimension("augment").choices == (False, True)
    whole = default_dimension("weight_decay")  # its own range starts at 0: log needs more
    assert whole.log and 0 < whole.low < whole.high == 0.1


@pytest.mark.parametrize(("dimensions", "changes", "message"), [
    ((), {}, "at least one field"),
    (("dropout=0.6:0.2",), {}, "is empty"),
    (("dropout=0.2:2",), {}, "leaves the field's own range"),
    (("optimizer=adam",), {}, "at least two different choices"),
    (("seed=0:10",), {}, "cannot be searched"),
    (("data=a,b",), {}, "cannot be searched"),
    (("merge_classes",), {}, "cannot be searched"),
    (("weight_decay=0:0.01:log",), {}, "must start above 0"),
    (("batch_size=16.5:64",), {}, "whole bounds"),
    (("optimizer=adam,rmsprop",), {}, "optimizer must be one of"),
    (("dropout",), {"trials": 0}, "total time"),
    (("dropout",), {"trials": 0, "minutes": 10}, "minutes per trial"),
    (("dropout",), {"minutes": 4, "trial_minutes": 5}, "too few for one trial"),
    (("dropout",), {"objective": "test_accuracy"}, "objective must be one of"),
    (("dropout",), {"base": tiny(val_fraction=0.0).to_dict()}, "validation share"),
    (("dropout",), {"first": ({"learning_rate": 2.0},)}, "learning_rate must be between"),
])
def test_a_bad_plan_is_refused_before_anything_runs(dimensions, changes, message,
                                                    tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        bad = plan(dimensions=tuple(map(parse_dimension, dimensions)), **changes)
        tasks.submit(searches.KIND, searches.spec(bad), runs_root=tmp_path)
    assert not list(tmp_path.rglob("task.json"))


def test_trials_that_fit_the_time_count_parallel_trials() -> None:
    assert plan(trials=0, minutes=60, trial_minutes=7).trials_that_fit() == 8
    assert plan(trials=0, minutes=60, trial_minutes=7, parallel=2).trials_that_fit() == 16
    assert plan(trials=5, minutes=60, trial_minutes=7).trials_that_fit() == 5
    assert plan(trials=5).trials_that_fit() == 5


def test_a_field_that_does_not_apply_is_not_sampled() -> None:
    """Weight decay matters to adamw and sgd, not adam: sampled only with those."""
    searched = plan(dimensions=(parse_dimension("optimizer=adam,sgd"),
                                parse_dimension("weight_decay=1e-5:1e-2")))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = [search.suggest(study.ask(), searched) for _ in range(20)]
    assert {"optimizer", "weight_decay"} == set().union(*seen)
    assert all(("weight_decay" in p) == (p["optimizer"] == "sgd") for p in seen)
    assert searched.base_params() == {"optimizer": "adam"}  # trial 0: the base as it is


def test_steps_are_tenths_of_the_budget_with_the_best_value_so_far() -> None:
    history = pd.DataFrame({"val_accuracy": [0.2, 0.4, 0.3, 0.5], "seconds": [30.0] * 4})
    by_epochs = plan()  # tiny(): 1 epoch; 4 here
    config = by_epochs.trial_config({}).replace(epochs=4)
    assert search.steps_reached(history, by_epochs, config) == [
        (1, 0.2), (2, 0.2), (3, 0.4), (4, 0.4), (5, 0.4), (6, 0.4), (7, 0.4), (8, 0.5),
        (9, 0.5), (10, 0.5)]
    by_time = plan(trial_minutes=4.0)  # 240 s: each 30-s epoch is an eighth
    steps = dict(search.steps_reached(history, by_time, by_time.trial_config({})))
    assert steps == {1: 0.2, 2: 0.4, 3: 0.4, 4: 0.5, 5: 0.5}


def test_a_plan_reads_back_as_written() -> None:
    written = plan(first=({"learning_rate": 0.01},), minutes=30, trial_minutes=5, parallel=2,
                   dimensions=(parse_dimension("dropout=0:0.5"), parse_dimension("augment")))
    assert SearchPlan.from_json(json.loads(json.dumps(written.to_json()))) == written


# --- a search on the demo data, through the local queue ----------------------------------------

def _pid(folder: Path) -> int:
    return int(runs.read_status(folder).pid or 0)


def _trial_runs(root: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    for folder in runs.run_folders(root):
        record = runs.read_config(folder).extra.get(searches.RECORD_KEY)
        if record:
            found.setdefault(record["trial"], []).append(folder)
    return found


@pytest.mark.slow
def test_search_prunes_survives_kills_and_launches_its_best(tmp_path: Path) -> None:
    """Trial 0 is the base recipe, 1 a good rate, 2 a rate planted to learn nothing: pruned.
    Trial 0's run is killed midway (queued again, same settings) and so is the search itself
    (run again: no finished trial repeats). Only the best trial keeps its model."""
    base = tiny(epochs=4, augment=False, tta=False, tta_shift=0, batch_size=32,
                label_smoothing=0.0, subsample_per_class=0)  # about 60% after one epoch
    planned = SearchPlan(base=base.to_dict(),
                         dimensions=(parse_dimension("learning_rate=1e-7:1e-2"),),
                         first=({"learning_rate": 3e-3}, {"learning_rate": 1e-7}),
                         trials=3, keep_models=1)
    task_dir = tasks.submit(searches.KIND, searches.spec(planned), runs_root=tmp_path)

    def trial_run(number: int) -> Path:
        deadline = time.monotonic() + SEARCH_TIMEOUT
        while time.monotonic() < deadline:
            if found := _trial_runs(tmp_path).get(number):
                return found[0]
            time.sleep(0.2)
        pytest.fail(f"trial {number} never started; {runs.read_status(task_dir)}")

    first = trial_run(0)
    poll(first, has_step_progress, timeout=SEARCH_TIMEOUT)
    os.kill(_pid(first), signal.SIGKILL)  # a trial killed midway
    second = trial_run(1)
    poll(second, lambda s: runs.effective_state(s) == "running", timeout=SEARCH_TIMEOUT)
    os.kill(_pid(task_dir), signal.SIGKILL)  # and the search itself
    poll(task_dir, lambda s: runs.effective_state(s) == "failed", timeout=60)
    tasks.retry(task_dir)  # goes on where it stopped
    assert tasks.wait(task_dir, timeout=SEARCH_TIMEOUT) == "succeeded", runs.read_log_tail(
        task_dir)

    summary = searches.read_summary(task_dir)
    states = {t["number"]: t["state"] for t in summary["trials"]}
    assert states == {0: "complete", 1: "complete", 2: "pruned"}, summary
    pruned = summary["trials"][2]
    assert max(map(int, pruned["steps"])) < 10  # stopped before its budget ran out
    trial_runs = _trial_runs(tmp_path)
    assert sorted(trial_runs) == [0, 1, 2]
    assert len(trial_runs[1]) == len(trial_runs[2]) == 1  # nothing ran twice
    for number, folders in trial_runs.items():  # each attempt with the trial's own settings
        for folder in folders:
            record = runs.read_config(folder).extra[searches.RECORD_KEY]
            assert record["params"] == summary["trials"][number]["params"]
            assert record["id"] == task_dir.name
    zero = trial_runs[0]
    assert len(zero) == 2 or runs.read_status(zero[0]).resumed == 1  # again, or resumed
    with_models = [t["number"] for t in summary["trials"] if t["model"]]
    assert with_models == [summary["best"]["number"]]

    best = searches.best_config(task_dir)
    assert best.learning_rate == summary["best"]["params"]["learning_rate"]
    assert best.time_budget_min == 0 and best.epochs == 4  # the base's own schedule
    launched = subprocess.run(
        [sys.executable, "-m", "fer_core", "search", "train-best", task_dir.name, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "FER_RUNS_DIR": str(tmp_path)})
    assert launched.returncode == 0, launched.stderr
    run_dir = tmp_path / json.loads(launched.stdout)["run_id"]
    assert tasks.wait(run_dir, timeout=SEARCH_TIMEOUT) == "succeeded"
    assert runs.read_config(run_dir).config["learning_rate"] == best.learning_rate


@pytest.mark.slow
def test_a_search_whose_every_trial_fails_says_the_shared_error(tmp_path: Path) -> None:
    broken = tiny(data=str(tmp_path / "no-such-folder"))
    planned = SearchPlan(base=broken.to_dict(), dimensions=(parse_dimension("dropout"),),
                         trials=5)
    task_dir = tasks.submit(searches.KIND, searches.spec(planned), runs_root=tmp_path)
    assert tasks.wait(task_dir, timeout=SEARCH_TIMEOUT) == "failed"
    error = runs.read_status(task_dir).error
    assert "All 3 trials failed" in error and "no-such-folder" in error, error


def test_suggested_ranges_sit_around_the_recipe_inside_the_field() -> None:
    from fer_core.core.search_space import searchable_fields, suggested_dimension

    base = preset("fast-cpu")  # adam at 1e-3, dropout 0.4, batch 64
    assert suggested_dimension("learning_rate", base) == Dimension(
        "learning_rate", base.learning_rate / 10, base.learning_rate * 10, log=True)
    assert suggested_dimension("dropout", base) == Dimension("dropout", 0.2, 0.8)
    assert suggested_dimension("batch_size", base) == Dimension("batch_size", 32, 128)
    assert suggested_dimension("optimizer", base).choices == ("adam", "adamw", "sgd")
    assert suggested_dimension("mixup", base) == default_dimension("mixup")  # 0: whole range
    fields = searchable_fields()
    assert {"learning_rate", "optimizer", "augment", "batch_size"} <= set(fields)
    assert not {"data", "seed", "epochs", "tta", "labels", "merge_classes"} & set(fields)


def test_summaries_read_as_people_and_charts_need() -> None:
    from fer_core.runs import searches

    summary = {"objective": "val_accuracy", "trials": [
        {"number": 0, "state": "complete", "value": 0.5, "params": {"learning_rate": 1e-3},
         "started": "2026-01-01T00:00:00+00:00", "ended": "2026-01-01T00:05:00+00:00",
         "steps": {"10": 0.5}},
        {"number": 1, "state": "pruned", "value": 0.2,
         "params": {"learning_rate": 0.00044303752452182633},
         "started": "2026-01-01T00:05:00+00:00", "ended": "2026-01-01T00:07:00+00:00",
         "steps": {"1": 0.1, "2": 0.2}},
        {"number": 2, "state": "complete", "value": 0.6, "params": {"learning_rate": 3e-3},
         "started": "2026-01-01T00:07:00+00:00", "ended": "2026-01-01T00:12:00+00:00",
         "steps": {"10": 0.6}},
        {"number": 3, "state": "running", "value": None, "params": {"learning_rate": 2e-3},
         "started": "2026-01-01T00:12:00+00:00", "ended": None, "steps": {}}]}
    trials = searches.trials_frame(summary)
    assert list(trials["state"]) == ["finished", "pruned at 2/10", "finished", "running"]
    assert trials["learning_rate"][1] == 0.000443
    progress = searches.progress_frame(summary)
    assert list(progress["minutes"]) == [5.0, 7.0, 12.0]
    assert list(progress["best"]) == [0.5, 0.5, 0.6]  # a pruned trial never is the best
    space = plan(dimensions=(parse_dimension("learning_rate=1e-4:1e-2"),))
    positions = searches.parallel_frame(summary, space).set_index("trial")["position"]
    assert positions[0] == pytest.approx(0.5) and len(positions) == 3  # log scale, ended only
    assert searches.counts(summary) == {"complete": 2, "pruned": 1, "fail": 0, "running": 1,
                                        "waiting": 0}
