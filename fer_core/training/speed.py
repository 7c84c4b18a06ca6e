"""How long a config takes on this machine, from a few timed training steps of the backbone
with random weights (the speed does not depend on them), cached per :class:`SpeedKey`."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fer_core.core import atomic, device, settings
from fer_core.core.config import TrainConfig
from fer_core.core.emotions import EMOTIONS
from fer_core.data import Dataset
from fer_core.training.budget import EVALUATION_OVERHEAD_S, tta_view_count

STARTUP_S = 15.0  # starting Python and TensorFlow and loading the cached data set
MEASURED_STEPS = 5
PRETRAINED = ("imagenet",)  # besides a weights file, which is pre-trained too


def machine() -> str:
    """This machine, as a speed depends on it: host, CPU model, cores and GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as lines:
            cpu = next((line.split(":", 1)[1].strip() for line in lines
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{socket.gethostname()} | {cpu} | {os.cpu_count()} cores | " \
           f"{device.describe_device_quick()}"


@dataclass(frozen=True)
class SpeedKey:
    """What a measured speed depends on; each key is one cache file."""

    machine: str
    backbone: str
    batch_size: int
    input_size: int
    precision: str  # the mixed_precision setting: with the machine it fixes the dtype policy
    frozen: bool  # a pre-trained backbone frozen (phase 1) rather than trained
    code: int = 2  # what training runs: 2 since our CNNs fuse batch normalisation (faster)

    @property
    def file_name(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20] + ".json"


@dataclass(frozen=True)
class Speed:
    """Images per second of training and of inference, and the first batch's tracing."""

    train_images_per_s: float
    infer_images_per_s: float
    tracing_s: float
    measured: str  # when, as an ISO time


def speed_keys(config: TrainConfig) -> dict[int, SpeedKey]:
    """The speeds a config's estimate needs, by phase: phase 2 trains the backbone too."""
    pretrained = config.weights in PRETRAINED or Path(config.weights).is_file()
    base = {"machine": machine(), "backbone": config.backbone, "batch_size": config.batch_size,
            "input_size": config.input_size, "precision": config.mixed_precision}
    keys = {}
    if config.epochs > 0:
        keys[1] = SpeedKey(**base, frozen=pretrained)
    if config.finetune_epochs > 0:
        keys[2] = SpeedKey(**base, frozen=False)
    return keys


def _cache_file(key: SpeedKey) -> Path:
    return settings.cache_dir() / "speed" / key.file_name


def cached_speed(key: SpeedKey) -> Speed | None:
    """The speed measured earlier for ``key``, or ``None``; an unreadable file is no speed."""
    try:
        data = json.loads(_cache_file(key).read_text())
        return Speed(**data["speed"]) if data.get("key") == asdict(key) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def measured_speed(key: SpeedKey) -> Speed:
    """The cached speed, or a new measurement (seconds: it builds and traces the model)."""
    return cached_speed(key) or _store(key, measure(key))


def _store(key: SpeedKey, speed: Speed) -> Speed:
    atomic.write_json(_cache_file(key), {"key": asdict(key), "speed": asdict(speed)})
    return speed


def measure(key: SpeedKey, *, steps: int = MEASURED_STEPS) -> Speed:
    """Time ``steps`` training batches and as many inference batches, after one traced one."""
    import keras
    import numpy as np

    from fer_core.runs import now_iso
    from fer_core.training.models import build_model

    batch = key.batch_size
    with device.configured(policy=device.precision_policy(key.precision), seed=0):
        # The head's size barely moves the time; the seven emotions stand for any class set.
        n_classes = len(EMOTIONS)
        fer = build_model(key.backbone, num_classes=n_classes, input_size=key.input_size,
                          weights="none")
        if key.frozen and fer.backbone is not None:
            fer.backbone.trainable = False
        model = fer.model
        model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                      loss="categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, size=(batch * steps, settings.IMAGE_SIZE,
                                       settings.IMAGE_SIZE, 1)).astype(np.float32)
        y = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, size=batch * steps)]
        start = time.perf_counter()
        model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
        model.predict(x[:batch], batch_size=batch, verbose=0)
        tracing = time.perf_counter() - start
        train_s = _timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0))
        infer_s = _timed(lambda: model.predict(x, batch_size=batch, verbose=0))
    keras.backend.clear_session()
    return Speed(train_images_per_s=round(len(x) / train_s, 1),
                 infer_images_per_s=round(len(x) / infer_s, 1), tracing_s=round(tracing, 2),
                 measured=now_iso())


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


# --- the estimate --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SplitSizes:
    train: int
    val: int
    test: int


def split_sizes(config: TrainConfig, dataset: Dataset) -> SplitSizes:
    """Images per split as the config trains on them, without copying any image."""
    from fer_core.training.inputs import apply_data_config

    ds = apply_data_config(dataset, config)
    train = len(ds.split("train"))
    if config.oversample_to:
        counts = ds.split("train").index["label"].value_counts()
        train = int(sum(max(int(n), config.oversample_to) for n in counts))
    return SplitSizes(train, len(ds.split("val")), len(ds.split("test")))


@dataclass(frozen=True)
class Estimate:
    """How long a run takes here, and in how many epochs."""

    seconds: float
    epochs: int  # phase 1's (all of them without fine-tuning)
    finetune_epochs: int
    budgeted: bool
    train_images_per_s: float  # phase 1's


def estimate(config: TrainConfig, sizes: SplitSizes, speeds: dict[int, Speed]) -> Estimate:
    """Epochs at the measured speeds, validation each epoch, tracing, and the evaluation; with
    a time budget, the budget itself and the epochs that fit in it."""
    fallback = next(iter(speeds.values()))
    val_rate = speeds.get(1, fallback).infer_images_per_s
    evaluation = ((sizes.val + sizes.test) * tta_view_count(config) / val_rate
                  + EVALUATION_OVERHEAD_S)
    epoch = {phase: sizes.train / speed.train_images_per_s + sizes.val / speed.infer_images_per_s
             for phase, speed in speeds.items()}
    fixed = STARTUP_S + evaluation + sum(2 * speed.tracing_s for speed in speeds.values())
    epochs = {1: config.epochs, 2: config.finetune_epochs}  # also the budget's split
    if config.time_budget_min:
        seconds = config.time_budget_min * 60.0
        total = sum(epochs[p] for p in epoch) or 1
        left = max(seconds - fixed, 0.0)
        epochs = {p: max(1, math.floor(left * epochs[p] / total / epoch[p] + 0.5))
                  for p in epoch}
    else:
        seconds = fixed + sum(epochs[p] * epoch[p] for p in epoch)
    return Estimate(seconds=round(seconds, 1), epochs=epochs.get(1, 0),
                    finetune_epochs=epochs[2] if 2 in epoch else 0,
                    budgeted=bool(config.time_budget_min),
                    train_images_per_s=speeds.get(1, fallback).train_images_per_s)


def describe(result: Estimate) -> str:
    """"about 35 min on this machine", with the epochs and the speed behind it."""
    epochs = f"{result.epochs} epochs" + (f" + {result.finetune_epochs} fine-tuning"
                                          if result.finetune_epochs else "")
    speed = f"{result.train_images_per_s:,.0f} training images/s here"
    if result.budgeted:
        return (f"Ends in about {_duration(result.seconds)} (its time budget): about {epochs} "
                f"at {speed}.")
    return f"About {_duration(result.seconds)} on this machine: {epochs} at {speed}."


def _duration(seconds: float) -> str:
    minutes = seconds / 60.0
    if minutes < 1.5:
        return f"{max(seconds, 1):.0f} s"
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} hours"


def estimate_config(config: TrainConfig, dataset: Dataset, *, measure_missing: bool = True
                    ) -> Estimate | None:
    """The estimate for ``config`` on ``dataset``; ``None`` when a speed is not measured yet
    and ``measure_missing`` is off (so a page never blocks on a measurement by surprise)."""
    keys = speed_keys(config)
    if not keys:
        return None
    speeds = {phase: (measured_speed(key) if measure_missing else cached_speed(key))
              for phase, key in keys.items()}
    if any(speed is None for speed in speeds.values()):
        return None
    return estimate(config, split_sizes(config, dataset), speeds)
