"""Time budgets: the epoch fitting on synthetic timings, and one real budgeted run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.core.config import PRESETS, preset
from fer_core.training.budget import (
    BudgetPlanner,
    CosineMap,
    fit_epochs,
    phase_one_share,
    read_record,
    refit_epoch,
    untraced_seconds,
)


def _planner(seconds: float = 600.0, *, share: float = 1.0) -> BudgetPlanner:
    return BudgetPlanner(seconds=seconds, started=0.0, share=share, eval_images=1000,
                         training_started=10.0)


def test_fit_epochs_fills_the_time_left_to_the_nearest_epoch() -> None:
    assert fit_epochs(done=1, seconds_left=100.0, epoch_seconds=10.0) == 11
    assert fit_epochs(done=1, seconds_left=104.0, epoch_seconds=10.0) == 11
    assert fit_epochs(done=1, seconds_left=106.0, epoch_seconds=10.0) == 12
    assert fit_epochs(done=3, seconds_left=-50.0, epoch_seconds=10.0) == 3  # no time: stop
    assert fit_epochs(done=1, seconds_left=1e9, epoch_seconds=1.0, high=1000) == 1000


def test_refit_at_a_quarter_changes_the_epochs_when_the_speed_changes() -> None:
    planner = _planner(600.0)
    # Epoch 1 ended at 40 s and looked like 30 s per epoch; evaluation needs 20 s.
    first = planner.plan(phase=1, done=1, now=40.0, durations=[30.0], evaluation_s=20.0,
                         reason="first")
    assert first.epochs == 1 + round((600 - 20 - 40) / 30)  # 19
    quarter = refit_epoch(first.epochs)
    assert quarter == 5
    # By the quarter the machine turned out faster: epochs 2-5 took 20 s each.
    now = 40.0 + 4 * 20.0
    second = planner.plan(phase=1, done=quarter, now=now, durations=[30.0] + [20.0] * 4,
                          evaluation_s=20.0, reason="quarter")
    assert second.epochs == quarter + round((600 - 20 - now) / 20.0)  # 5 + 23 = 28
    assert second.epochs > first.epochs
    # ... and slower instead: fewer epochs.
    slower = _planner(600.0).plan(phase=1, done=quarter, now=40.0 + 4 * 45.0,
                                  durations=[30.0] + [45.0] * 4, evaluation_s=20.0,
                                  reason="quarter")
    assert slower.epochs < first.epochs
    assert planner.chosen_epochs() == {"1": second.epochs}
    assert [d["reason"] for d in planner.record()["decisions"]] == ["first", "quarter"]


def test_phase_one_ends_at_its_share_of_the_training_time() -> None:
    config = preset("seed-finetuned")  # 30 + 20 epochs
    assert phase_one_share(config) == pytest.approx(0.6)
    planner = _planner(1000.0, share=0.6)
    # Training runs from 10 s to 1000 - 90 (evaluation) = 910 s; phase 1 gets 60% of it.
    assert planner.phase_end(1, evaluation_s=90.0) == pytest.approx(10.0 + 0.6 * 900.0)
    assert planner.phase_end(2, evaluation_s=90.0) == pytest.approx(910.0)


def test_evaluation_estimate_scales_validation_to_the_evaluated_images() -> None:
    planner = _planner()  # evaluation predicts 1000 images
    assert planner.evaluation_seconds(val_images=250, val_seconds=2.0, tracing_seconds=1.5) \
        == pytest.approx(1000 * 2.0 / 250 + 1.5 + 2.0)
    config = preset("best")  # ten test-time views of val and test
    assert BudgetPlanner.create(config, started=0.0, val_images=3,
                                test_images=7).eval_images == 100


def test_untraced_seconds_leaves_the_first_batch_out() -> None:
    # 10 batches: the first traced, the nine others 0.5 s each.
    assert untraced_seconds(4.5, 10) == pytest.approx(5.0)
    assert untraced_seconds(0.0, 1) is None


def test_after_the_quarter_only_a_changed_count_is_a_new_decision() -> None:
    planner = _planner(600.0)
    # Epoch 10 ended at 300 s; the last four epochs took 30 s: 9 more fit, 19 in all.
    same = planner.plan(phase=1, done=10, now=300.0, durations=[50.0] * 6 + [30.0] * 4,
                        evaluation_s=20.0, reason="speed", recent=4, current=19)
    assert same is None and planner.decisions == []
    busier = planner.plan(phase=1, done=10, now=300.0, durations=[30.0] * 6 + [60.0] * 4,
                          evaluation_s=20.0, reason="speed", recent=4, current=19)
    assert busier is not None and busier.epochs == 15
    out_of_time = planner.plan(phase=1, done=12, now=575.0, durations=[30.0] * 12,
                               evaluation_s=20.0, reason="speed", recent=4, current=19)
    assert out_of_time is not None and out_of_time.epochs == 12  # stop after this epoch


def test_cosine_map_rescales_without_a_jump_and_ends_at_the_new_last_step() -> None:
    schedule = CosineMap(base_lr=0.01, total_steps=100)
    assert schedule.learning_rate(0) == pytest.approx(0.01)
    before = schedule.learning_rate(25)
    schedule.rescale(25, 300)  # the plan grew from 100 to 300 steps
    assert schedule.learning_rate(25) == pytest.approx(before)
    assert schedule.learning_rate(299) > 0 and schedule.learning_rate(300) == pytest.approx(0)
    assert schedule.learning_rate(162) == pytest.approx(0.01 * 0.5 * (1 + math.cos(
        math.pi * (0.25 + 0.75 * (162 - 25) / 275))))
    schedule.rescale(200, 150)  # shrunk below the step reached: it ends now
    assert schedule.learning_rate(200) == pytest.approx(0)


def test_budget_presets_are_their_recipes_with_a_budget() -> None:
    for name, base, minutes in (("fast-cpu-30min", "fast-cpu", 30), ("best-90min", "best", 90)):
        assert preset(name) == preset(base).replace(time_budget_min=float(minutes))
    assert all(preset(name).time_budget_min == 0 for name in PRESETS if "min" not in name)


@pytest.mark.slow
def test_budgeted_run_ends_within_a_tenth_of_its_budget_and_records_its_epochs(
        tmp_path: Path) -> None:
    """A one-minute budget on the demo data: the run's own clock (``metrics.seconds``, from
    the start of ``train``) says when it ended, however busy the machine was."""
    from fer_core.data import load_dataset
    from fer_core.tasks.train import train

    dataset = load_dataset(None)  # the demo set is made on first use: not part of the run
    # Short epochs (few images), so that one epoch is a small part of the minute.
    config = preset("fast-cpu").replace(time_budget_min=1.0, subsample_per_class=30,
                                        val_fraction=0.05, tta=False, tta_shift=0)
    run_dir = tmp_path / "budget-run"
    runs.create_run(config.to_dict(), run_dir=run_dir)
    metrics = train(config, run_dir, dataset=dataset)

    assert abs(metrics["seconds"] - 60.0) <= 6.0, metrics["seconds"]
    record = read_record(run_dir)
    assert record is not None and record["minutes"] == 1.0
    history = runs.read_history(run_dir)
    assert record["epochs"]["1"] == len(history) == metrics["epochs"]
    assert record["decisions"][0]["after_epoch"] == 1
    assert len(record["decisions"]) >= 2 or record["epochs"]["1"] <= 2  # refit at a quarter
    assert "Time budget, phase 1:" in runs.files(run_dir).log.read_text()
    # the cosine schedule was rescaled to end at the last epoch
    assert history["learning_rate"].iloc[-1] < 0.2 * config.learning_rate
