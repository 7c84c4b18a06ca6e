"""TrainConfig: every hyperparameter with its default, allowed range and help, in one place,
so the Train form, the command line's ``--set`` and each run folder's record all agree."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_core.core.backbones import backbone_names
from fer_core.core.errors import ConfigError

GROUPS = ("data", "augmentation", "model", "phase 1", "phase 2", "batches and speed",
          "callbacks", "evaluation")


class FieldKind(enum.Enum):
    """What a field holds: its Python type, how its text parses and which widget draws it.
    Kept in the field's metadata, as annotations are mere strings under postponed evaluation."""

    INT = ("int", int)
    FLOAT = ("float", float)
    BOOL = ("bool", bool)
    TEXT = ("text", str)
    CHOICE = ("choice", str)
    BACKBONE = ("backbone", str)  # a name from the model registry, checked against it
    CLASSES = ("classes", list)  # list[str] of class names
    MAPPING = ("mapping", dict)  # dict[str, str], class -> class

    def __init__(self, label: str, python_type: type) -> None:
        self.python_type = python_type


_KIND_OF_DEFAULT = {bool: FieldKind.BOOL, int: FieldKind.INT, float: FieldKind.FLOAT,
                    str: FieldKind.TEXT, list: FieldKind.CLASSES, dict: FieldKind.MAPPING}


def param(default: Any, help: str, *, group: str, low: float | None = None,
          high: float | None = None, choices: tuple[str, ...] | None = None,
          kind: FieldKind | None = None, label: str | None = None, log: bool = False,
          applies: Callable[[TrainConfig], bool] | None = None) -> Any:
    """A config field with the metadata the form and the validator need; the kind comes from
    ``choices`` or the default's type unless given, and a default of another type is refused.
    ``label`` is what a form calls it where the name alone reads badly ("Tta"). ``log``: its
    values span decades, so a search samples it on a log scale. ``applies``: when the field
    matters at all (a fine-tuning rate only with fine-tuning), so a search leaves it alone."""
    kind = kind or (FieldKind.CHOICE if choices else _KIND_OF_DEFAULT.get(type(default)))
    if kind is None:
        raise TypeError(f"No FieldKind for a default of type {type(default).__name__}.")
    meta = {"help": help, "group": group, "low": low, "high": high, "choices": choices,
            "kind": kind, "label": label, "log": log, "applies": applies}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# When a field matters (``param(applies=...)``): a search varies it only then.
def _augmenting(config: TrainConfig) -> bool:
    return config.augment


def _decaying(config: TrainConfig) -> bool:
    return config.optimizer in ("adamw", "sgd")


def _finetuning(config: TrainConfig) -> bool:
    return config.finetune_epochs > 0


def _on_plateau(config: TrainConfig) -> bool:
    return config.lr_schedule == "plateau"


def _averaging_views(config: TrainConfig) -> bool:
    return config.tta


@dataclass
class TrainConfig:
    """A training run's full recipe. Defaults reproduce the seed report's set-up."""

    # data
    data: str = param("", "Data set: a folder, fer2013.csv or .zip path, or demo (the synthetic "
                      "demo); empty: the one chosen in the app, or on the command line "
                      "FER_DATA_DIR, else the demo.", group="data")
    val_fraction: float = param(0.2, "Share of train held out for validation (stratified).",
                                group="data", low=0.0, high=0.5, label="Validation share of train")
    seed: int = param(0, "Random seed for the split, sampling, initial weights and shuffling.",
                      group="data", low=0, high=2**31 - 1)
    subsample_per_class: int = param(0, "Keep at most this many training images per class; "
                                     "0 keeps all (the seed report tried 750 and 2,500).",
                                     group="data", low=0, high=1_000_000,
                                     label="Training images per class (at most)")
    drop_classes: list[str] = param([], "Classes to leave out, e.g. disgust.", group="data")
    merge_classes: dict[str, str] = param({}, "Classes to relabel into others, e.g. "
                                          "disgust:angry.", group="data")
    oversample_to: int = param(0, "Add augmented copies of rarer classes until each has this "
                               "many training images; 0 is off.", group="data",
                               low=0, high=100_000, label="Oversample rarer classes to")
    labels: str = param("folder", "Which labels to train on: folder, the data set's own; "
                        "majority, FER+'s most-voted class; votes, FER+'s vote distribution "
                        "as a soft target. FER+ needs fer2013new.csv beside fer2013.csv; "
                        "evaluation scores against the majority class.", group="data",
                        choices=("folder", "majority", "votes"), label="Labels (FER+)")
    class_weights: str = param("none", "Weight the loss against class imbalance.",
                               group="data", choices=("none", "balanced"))

    # augmentation (applied to training batches only, in the input pipeline)
    augment: bool = param(True, "Augment training images.", group="augmentation",
                          label="Augmentation")
    rotation: float = param(20.0, "Random rotation, up to this many degrees.",
                            group="augmentation", low=0.0, high=180.0, applies=_augmenting)
    width_shift: float = param(0.1, "Random horizontal shift, as a share of the width.",
                               group="augmentation", low=0.0, high=0.5, applies=_augmenting)
    height_shift: float = param(0.1, "Random vertical shift, as a share of the height.",
                                group="augmentation", low=0.0, high=0.5, applies=_augmenting)
    shear: float = param(0.1, "Random shear intensity.", group="augmentation", low=0.0,
                         high=1.0, applies=_augmenting)
    zoom: float = param(0.1, "Random zoom in or out, as a share of the size.",
                        group="augmentation", low=0.0, high=0.5, applies=_augmenting)
    horizontal_flip: bool = param(True, "Mirror images at random.", group="augmentation")
    brightness: float = param(0.0, "Random brightness change, as a share of the range.",
                              group="augmentation", low=0.0, high=1.0, applies=_augmenting)
    contrast: float = param(0.0, "Random contrast change factor.", group="augmentation",
                            low=0.0, high=1.0, applies=_augmenting)
    random_crop: int = param(0, "Pad by this many pixels and crop back at a random place; "
                             "0 is off.", group="augmentation", low=0, high=16,
                             label="Random crop padding (pixels)", applies=_augmenting)
    mixup: float = param(0.0, "Mixup strength (Beta alpha); 0 is off, 0.2 is typical.",
                         group="augmentation", low=0.0, high=1.0)

    # model
    backbone: str = param("inceptionv3", "Network architecture.", group="model",
                          kind=FieldKind.BACKBONE)
    input_size: int = param(0, "Side in pixels the faces are resized to; 0 uses the "
                            "backbone's own size.", group="model", low=0, high=512,
                            label="Input size (pixels)")
    weights: str = param("imagenet", "Starting weights: imagenet (downloaded once), none, "
                         "or the path of the backbone's notop .h5 weights file (offline, e.g. "
                         "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5).",
                         group="model", label="Starting weights")
    dropout: float = param(0.5, "Dropout before the classifier.", group="model", low=0.0, high=0.9)
    label_smoothing: float = param(0.0, "Label smoothing of the loss.", group="model",
                                   low=0.0, high=0.5)

    # phase 1: the backbone frozen when it starts from pre-trained weights
    epochs: int = param(30, "Epochs of phase 1.", group="phase 1", low=0, high=1000)
    time_budget_min: float = param(0.0, "Minutes for training and evaluation together; the "
                                   "speed measured on this machine then sets the epochs, and "
                                   "the epoch fields only split the time between the phases. "
                                   "0 is off.", group="phase 1", low=0.0, high=10_000.0,
                                   label="Time budget (minutes)")
    learning_rate: float = param(1e-4, "Learning rate of phase 1.", group="phase 1",
                                 low=1e-7, high=1.0, log=True)
    optimizer: str = param("adam", "Optimizer.", group="phase 1", choices=("adam", "adamw", "sgd"))
    weight_decay: float = param(0.0, "Weight decay (adamw, sgd), decoupled: each step "
                                "shrinks every weight by learning rate x weight decay. With sgd "
                                "(momentum 0.9), 5e-3 here acts about like 5e-4 in PyTorch's "
                                "SGD, which adds the decay to the gradient.", group="phase 1",
                                low=0.0, high=0.1, log=True, applies=_decaying)
    ema_momentum: float = param(0.0, "Keep an exponential moving average of the weights, "
                                "with this momentum per step (0.999 is typical; 0 is off). "
                                "Validation, the saved model and the final scores use the "
                                "average.", group="phase 1", low=0.0, high=0.99999,
                                label="EMA momentum (weight averaging)")
    lr_schedule: str = param("plateau", "Learning rate schedule: reduce on plateau, cosine "
                             "decay, or constant.", group="phase 1",
                             choices=("plateau", "cosine", "constant"),
                             label="Learning-rate schedule")

    # phase 2: fine-tuning the top of the backbone
    finetune_epochs: int = param(0, "Epochs of phase 2 (fine-tuning); 0 skips it.", group="phase 2",
                                 low=0, high=1000, label="Fine-tuning epochs")
    unfreeze_layers: int = param(50, "Layers of the backbone to unfreeze, from the top.",
                                 group="phase 2", low=0, high=1000, applies=_finetuning)
    finetune_learning_rate: float = param(1e-5, "Learning rate of phase 2.", group="phase 2",
                                          low=1e-8, high=1.0, label="Fine-tuning learning rate",
                                          log=True, applies=_finetuning)

    # batches and speed, then callbacks
    batch_size: int = param(32, "Images per batch (the seed compared 16, 32 and 64).",
                            group="batches and speed", low=1, high=2048)
    early_stopping_patience: int = param(5, "Stop after this many epochs without a better "
                                         "validation loss; 0 is off.", group="callbacks",
                                         low=0, high=1000,
                                         label="Early-stopping patience (epochs)")
    reduce_lr_factor: float = param(0.1, "Multiply the learning rate by this on a plateau.",
                                    group="callbacks", low=0.01, high=0.99,
                                    label="Learning-rate reduction factor", applies=_on_plateau)
    reduce_lr_patience: int = param(3, "Epochs without improvement before reducing the "
                                    "learning rate.", group="callbacks", low=1, high=1000,
                                    label="Learning-rate reduction patience (epochs)",
                                    applies=_on_plateau)
    mixed_precision: str = param("auto", "Mixed precision (float16 on a GPU, bfloat16 on a "
                                 "CPU): auto is on for a GPU and a CPU with native bfloat16.",
                                 group="batches and speed", choices=("auto", "on", "off"))
    cache_features: bool = param(True, "Compute a frozen backbone's features once and train "
                                 "the head on them (only without augmentation).",
                                 group="batches and speed", label="Cache frozen-backbone features")
    deterministic: bool = param(False, "On a CPU, the same seed gives the same weights and "
                                "predictions run after run (TensorFlow's op determinism). It "
                                "cost fer-vgg 13-22% of its speed on 2 cores, fer-cnn nothing; "
                                "Re-run with the same settings turns it on. A GPU and a time "
                                "budget (epochs chosen by the clock) do not repeat exactly.",
                                group="batches and speed", label="Reproducible on a CPU")

    # evaluation
    tta: bool = param(False, "Test-time augmentation: average predictions over flips.",
                      group="evaluation", label="Test-time augmentation views")
    tta_shift: int = param(0, "Test-time augmentation: also average over the image shifted this "
                           "many pixels up, down, left and right; pairs with random_crop.",
                           group="evaluation", low=0, high=8,
                           label="Test-time augmentation shift (pixels)",
                           applies=_averaging_views)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; the message names the field, what is allowed and what came."""
        for f in dataclasses.fields(self):
            value, kind, meta = getattr(self, f.name), field_kind(f), f.metadata
            _check_type(f.name, value, kind.python_type)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number; got {value!r}.")
            low, high = meta["low"], meta["high"]
            choices = backbone_names() if kind is FieldKind.BACKBONE else meta["choices"]
            if low is not None and value < low or high is not None and value > high:
                raise ConfigError(f"{f.name} must be between {low:g} and {high:g}; got {value!r}.")
            if choices and value not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}; got {value!r}.")
        _check_weights(self.weights)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        unknown = sorted(set(values) - set(field_names()))
        if unknown:
            raise ConfigError(f"Unknown config field(s) {', '.join(unknown)}. Valid fields: "
                              f"{', '.join(field_names())}.")
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def field_names() -> list[str]:
    return [f.name for f in config_fields()]


def config_fields() -> list[dataclasses.Field]:
    """The fields with their metadata, in form order, for building a UI."""
    return list(dataclasses.fields(TrainConfig))


def config_field(name: str) -> dataclasses.Field:
    """One field by name; an unknown name is a ``ConfigError`` listing the valid ones."""
    for f in config_fields():
        if f.name == name:
            return f
    raise ConfigError(f"Unknown config field {name!r}. Valid fields: {', '.join(field_names())}.")


def field_label(f: dataclasses.Field) -> str:
    """What a form calls the field: its declared label, else its name in words."""
    return f.metadata.get("label") or f.name.replace("_", " ").capitalize()


def field_kind(f: dataclasses.Field) -> FieldKind:
    """The field's declared kind; a field made without :func:`param` has none and is refused,
    so a new field can never fall back to some default widget or parser unnoticed."""
    kind = f.metadata.get("kind")
    if not isinstance(kind, FieldKind):
        raise ConfigError(f"{f.name} has no FieldKind: declare it with param().")
    return kind


def _check_weights(weights: str) -> None:
    """A weights file is checked by name here and for existence when the model is built: a
    config may be read on a machine (or a Ray node) other than the one that trains it."""
    if weights not in ("", "none", "imagenet") and not weights.lower().endswith(".h5"):
        raise ConfigError(
            f"weights must be none, imagenet or the path of a notop .h5 weights file (Keras "
            f"applications' download, or a .weights.h5 saved by Keras); got {weights!r}.")


def _check_type(name: str, value: Any, expected: type) -> None:
    """An int passes for a float (a config file may say 1 for 1.0); a bool is only a bool."""
    allowed = (int, float) if expected is float else expected
    if not isinstance(value, allowed) or expected is not bool and isinstance(value, bool):
        raise ConfigError(
            f"{name} must be of type {expected.__name__}; got {type(value).__name__} {value!r}.")


# --- presets -------------------------------------------------------------------------------------

_SEED_FINETUNED = {
    "backbone": "inceptionv3", "input_size": 224, "weights": "imagenet", "dropout": 0.6,
    "epochs": 30, "learning_rate": 1e-4, "finetune_epochs": 20, "unfreeze_layers": 50,
    "finetune_learning_rate": 1e-5, "early_stopping_patience": 5, "reduce_lr_factor": 0.1,
    "reduce_lr_patience": 3,
}

# Training from scratch at native 48x48, as the compact CNNs want.
_NATIVE_48 = {
    "input_size": 48, "weights": "none", "dropout": 0.4, "val_fraction": 0.1,
    "lr_schedule": "cosine", "batch_size": 64, "label_smoothing": 0.1, "rotation": 10.0,
    "shear": 0.0, "zoom": 0.1, "random_crop": 4, "early_stopping_patience": 0,
    "finetune_epochs": 0, "tta": True, "tta_shift": 4,
}

PRESETS: dict[str, dict[str, Any]] = {
    # The seed report's InceptionV3 transfer learning, frozen: 44.14% test accuracy there.
    "seed-baseline": {
        "backbone": "inceptionv3", "input_size": 224, "weights": "imagenet", "dropout": 0.5,
        "epochs": 30, "learning_rate": 1e-4, "optimizer": "adam", "finetune_epochs": 0,
    },
    # ...then the top 50 layers fine-tuned at 1e-5: 49.00% there.
    "seed-finetuned": _SEED_FINETUNED,
    # ...and the same without disgust, 6 classes: 48.66% there.
    "seed-no-disgust": {**_SEED_FINETUNED, "drop_classes": ["disgust"]},
    # A compact CNN at native 48x48 that trains in minutes on two CPU cores.
    "fast-cpu": {**_NATIVE_48, "backbone": "fer-cnn", "epochs": 42, "learning_rate": 1e-3,
                 "optimizer": "adam"},
    # The most accurate recipe found so far (see bench/RESULTS.md).
    "best": {**_NATIVE_48, "backbone": "fer-vgg", "epochs": 90, "learning_rate": 0.01,
             "optimizer": "sgd", "weight_decay": 5e-3},
}
# The same recipes in a fixed time on this machine: the measured speed sets the epochs.
PRESETS["fast-cpu-30min"] = {**PRESETS["fast-cpu"], "time_budget_min": 30.0}
PRESETS["best-90min"] = {**PRESETS["best"], "time_budget_min": 90.0}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}.")
    return TrainConfig.from_dict(PRESETS[name])


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (the command line's ``--set``) into a typed pair."""
    if "=" not in text:
        raise ConfigError(f"--set takes key=value; got {text!r}.")
    key, raw = (part.strip() for part in text.split("=", 1))
    return key, parse_text(key, raw)


_BOOLS = {**dict.fromkeys(("true", "1", "yes", "on"), True),
          **dict.fromkeys(("false", "0", "no", "off"), False)}


def parse_text(name: str, raw: str) -> Any:
    """One field's value from text (``--set``, a sweep's list, a form's box), by its kind."""
    kind, raw = field_kind(config_field(name)), raw.strip()
    if kind is FieldKind.MAPPING:
        return _parse_mapping(name, raw)
    if kind is FieldKind.CLASSES:
        return [item.strip() for item in raw.split(",") if item.strip()]
    try:
        return _BOOLS[raw.lower()] if kind is FieldKind.BOOL else kind.python_type(raw)
    except (KeyError, ValueError):
        example = "true" if kind is FieldKind.BOOL else kind.python_type.__name__
        raise ConfigError(f"{name} must be a {kind.python_type.__name__} (e.g. {example}); "
                          f"got {raw!r}.") from None


def _parse_mapping(name: str, raw: str) -> dict[str, str]:
    pairs = [item.split(":", 1) for item in raw.split(",") if item.strip()]
    for pair in pairs:
        if len(pair) != 2 or not pair[0].strip() or not pair[1].strip():
            raise ConfigError(f"{name} takes from:to pairs separated by commas (e.g. "
                              f"disgust:angry); {':'.join(pair).strip()!r} is not one.")
    return {src.strip(): dst.strip() for src, dst in pairs}


def resolve_config(*, preset_name: str | None = None, config_file: Path | None = None,
                   overrides: list[str] = (), data: str | None = None) -> TrainConfig:
    """Defaults, then a preset, then a JSON file, then ``--set`` overrides, then ``--data``."""
    values: dict[str, Any] = {}
    if preset_name:
        values.update(preset(preset_name).to_dict())
    if config_file:
        try:
            values.update(json.loads(Path(config_file).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"Config file {config_file} could not be read: {err}.") from err
    values.update(parse_override(text) for text in overrides)
    if data is not None:
        values["data"] = str(data)
    return TrainConfig.from_dict(values)
