"""The duration estimate: a real measurement cached per machine, its arithmetic, the Train page
line above Launch and ``python -m fer_core estimate``."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.cli import main
from fer_core.core.config import preset
from fer_core.training import speed
from views import progress as views

TRAIN_PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "train.py")


@pytest.fixture(scope="module")
def fast_cpu_speed() -> speed.Speed:
    """fast-cpu's speed on this machine, measured once into the session's cache folder."""
    key = speed.speed_keys(preset("fast-cpu"))[1]
    speed._cache_file(key).unlink(missing_ok=True)  # an earlier test's estimate may have run
    assert speed.cached_speed(key) is None
    return speed.measured_speed(key)


def _speed(train: float, infer: float, tracing: float = 1.0) -> speed.Speed:
    return speed.Speed(train_images_per_s=train, infer_images_per_s=infer, tracing_s=tracing,
                       measured="2026-01-01T00:00:00+00:00")


@pytest.mark.slow
def test_speed_is_measured_once_per_key_then_read_from_the_cache(
        fast_cpu_speed: speed.Speed) -> None:
    config = preset("fast-cpu")
    key = speed.speed_keys(config)[1]
    assert key.backbone == "fer-cnn" and key.batch_size == 64 and not key.frozen
    assert fast_cpu_speed.train_images_per_s > 0 and fast_cpu_speed.infer_images_per_s > 0
    assert speed.cached_speed(key) == fast_cpu_speed
    assert speed.measured_speed(key) == fast_cpu_speed  # same measurement time: not re-measured
    other = speed.speed_keys(config.replace(batch_size=48))[1]
    assert other.file_name != key.file_name and speed.cached_speed(other) is None


def test_speed_keys_follow_the_phases_and_the_frozen_backbone() -> None:
    keys = speed.speed_keys(preset("seed-finetuned"))
    assert keys[1].frozen and not keys[2].frozen and keys[1].input_size == 224
    assert set(speed.speed_keys(preset("best"))) == {1}


def test_estimate_adds_epochs_validation_tracing_and_evaluation() -> None:
    config = preset("fast-cpu").replace(epochs=10)  # ten test-time views
    sizes = speed.SplitSizes(train=1000, val=200, test=300)
    result = speed.estimate(config, sizes, {1: _speed(100.0, 500.0, tracing=2.0)})
    epoch = 1000 / 100 + 200 / 500
    evaluation = 500 * 10 / 500 + speed.EVALUATION_OVERHEAD_S
    assert result.seconds == pytest.approx(10 * epoch + evaluation + speed.STARTUP_S + 4.0,
                                           abs=0.1)
    assert result.epochs == 10 and not result.budgeted
    assert speed.describe(result).startswith("About 2 min on this machine: 10 epochs at 100")


def test_budget_estimate_is_the_budget_and_the_epochs_that_fit() -> None:
    config = preset("fast-cpu-30min")
    sizes = speed.SplitSizes(train=1000, val=200, test=300)
    result = speed.estimate(config, sizes, {1: _speed(100.0, 500.0, tracing=2.0)})
    fixed = 500 * 10 / 500 + speed.EVALUATION_OVERHEAD_S + speed.STARTUP_S + 4.0
    assert result.seconds == 1800.0
    assert result.epochs == round((1800 - fixed) / (1000 / 100 + 200 / 500))
    assert speed.describe(result).startswith("Ends in about 30 min (its time budget)")


@pytest.mark.slow
def test_train_page_shows_the_estimate_before_launch(fast_cpu_speed: speed.Speed,
                                                     tmp_path: Path) -> None:
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path)
    at.run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "on this machine: 42 epochs at" in captions
    assert f"{fast_cpu_speed.train_images_per_s:,.0f} training images/s" in captions

    at.selectbox(key="train.preset").set_value("fast-cpu-30min").run()
    assert "Ends in about 30 min (its time budget)" in " ".join(c.value for c in at.caption)

    at.number_input(key="train.cfg.batch_size").set_value(48).run()  # never measured
    assert not at.exception
    assert any(b.key == "train.estimate" for b in at.button)
    assert "time budget" not in " ".join(c.value for c in at.caption)


@pytest.mark.slow
def test_estimate_command_prints_the_cached_estimate(fast_cpu_speed: speed.Speed,
                                                     capsys: pytest.CaptureFixture) -> None:
    assert main(["estimate", "--preset", "fast-cpu-30min"]) == 0  # the same speed as fast-cpu
    assert "Ends in about 30 min (its time budget)" in capsys.readouterr().out
    assert main(["estimate", "--preset", "fast-cpu"]) == 0
    assert "on this machine: 42 epochs" in capsys.readouterr().out


def test_an_estimate_timed_beside_a_training_job_says_so() -> None:
    alone = {"text": "About 2 minutes.", "beside_training": False}
    assert views.estimate_text(alone) == "About 2 minutes."
    shared = views.estimate_text({**alone, "beside_training": True})
    assert shared.startswith("About 2 minutes.") and "a training job was running here" in shared
