"""Widget specs for TrainConfig fields: the one rule every form in the app is drawn by, so a
field's bounds, step, format and help never differ between pages, and a new field gets a widget
without touching a page. Values cross to and from TrainConfig here, typed, never as text."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from fer_core.core.backbones import backbone_names
from fer_core.core.config import (
    FieldKind,
    TrainConfig,
    config_field,
    config_fields,
    field_kind,
    field_label,
    parse_text,
    preset,
)

PRESET_NOTES = {
    "seed-baseline": "The seed report's InceptionV3 transfer learning with the backbone frozen "
                     "(44.1% test accuracy there). Slow on a CPU; needs the ImageNet weights: "
                     "downloaded once, or offline the notop .h5 file given as Starting weights.",
    "seed-finetuned": "seed-baseline, then the top 50 layers fine-tuned at 1e-5 (49.0% there).",
    "seed-no-disgust": "seed-finetuned without the rare disgust class: 6 classes (48.7% there).",
    "fast-cpu": "A compact CNN at native 48x48 trained from scratch: about 28-32 "
                "minutes on FER-2013 on two CPU cores (62.5% test accuracy there), a few "
                "minutes on the demo data. A good first run.",
    "best": "The most accurate recipe found so far: a VGG-style CNN, SGD with cosine decay, random "
            "crops and test-time augmentation: about 80-95 minutes on FER-2013 on two CPU cores "
            "with bfloat16 (68.2% test accuracy there), longer on a slower host. A GPU helps.",
    "fast-cpu-30min": "fast-cpu in 30 minutes on this machine: its measured speed sets the epochs.",
    "best-90min": "best in 90 minutes on this machine: its measured speed sets the epochs.",
}
GROUP_TITLES = {"phase 1": "Training", "phase 2": "Fine-tuning",
                "callbacks": "Early stopping and plateaus"}  # tab titles; others capitalised
_PLACEHOLDERS = {"data": "the data set chosen in the sidebar", "merge_classes": "disgust:angry"}
_FORMATS = {FieldKind.INT: "%d", FieldKind.FLOAT: "%g"}  # %g: 1e-05 stays readable, unlike %.2f
_NUMBERS = tuple(_FORMATS)


@dataclass(frozen=True)
class WidgetSpec:
    """Everything one widget call needs; numbers are all of the field's own type, since
    Streamlit refuses mixed int and float arguments. ``slider`` picks a slider over a box."""

    name: str
    label: str
    kind: FieldKind
    default: Any
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    format: str | None = None
    help: str = ""
    choices: tuple[str, ...] = ()
    placeholder: str | None = None
    slider: bool = False


def widget_spec(f: dataclasses.Field, *, slider: bool = False) -> WidgetSpec:
    kind, meta = field_kind(f), f.metadata
    low, high = (None if v is None or kind not in _NUMBERS else kind.python_type(v)
                 for v in (meta["low"], meta["high"]))
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return WidgetSpec(f.name, field_label(f), kind, to_widget_value(f, default), low, high,
                      number_step(kind, low, high), _FORMATS.get(kind),
                      help=meta["help"] if slider else _box_help(f, kind),
                      choices=(tuple(backbone_names()) if kind is FieldKind.BACKBONE
                               else meta["choices"] or ()),
                      placeholder=_PLACEHOLDERS.get(f.name), slider=slider)


def field_spec(name: str, *, slider: bool = False) -> WidgetSpec:
    """:func:`widget_spec` by field name; an unknown name is a ``ConfigError``."""
    return widget_spec(config_field(name), slider=slider)


_SWEEPS = {"batch_size": ("Batch sizes", "16, 32, 64"), "learning_rate": ("Learning rates",
           "1e-3, 1e-4"), "dropout": ("Dropout rates", "0.3, 0.5")}  # label, example


def sweep_spec(name: str) -> WidgetSpec:
    """A text box for several values of one field: the sweep's input, checked by the field's
    own kind and range when parsed (``views.progress.parse_values``)."""
    f = config_field(name)
    label, example = _SWEEPS.get(name, (field_label(f), ""))
    return WidgetSpec(name, label, FieldKind.TEXT, "", help=f"{f.metadata['help']} Several "
                      "values, separated by commas.", placeholder=f"e.g. {example}")


def range_specs(name: str, low: float, high: float) -> tuple[WidgetSpec, WidgetSpec]:
    """The two boxes of a searched range, the field's own widget each ("Learning rate: from",
    "to"), seeded with ``low`` and ``high``."""
    spec = field_spec(name)
    kind = spec.kind.python_type
    return (dataclasses.replace(spec, label=f"{spec.label}: from", default=kind(low)),
            dataclasses.replace(spec, label="to", default=kind(high)))


def group_title(group: str) -> str:
    return GROUP_TITLES.get(group, group.capitalize())


def number_step(kind: FieldKind, low: float | None, high: float | None) -> int | float | None:
    """Ints step by 1; floats spanning decades (learning rates) by a step near their low end,
    wide ranges (degrees) by 1 and shares by 0.01. Not a number: no step."""
    if kind is FieldKind.INT:
        return 1
    if kind is not FieldKind.FLOAT:
        return None
    if low is not None and low > 0 and high is not None and high / low >= 1e3:
        return 10.0 ** math.floor(math.log10(low) + 2)
    return 1.0 if low is not None and high is not None and high - low >= 10 else 0.01


def _box_help(f: dataclasses.Field, kind: FieldKind) -> str:
    """The field's help plus what a box does not show itself: its range, choices or syntax
    (a slider shows its range, so it gets the bare help)."""
    meta = f.metadata
    text = meta["help"]
    if meta["low"] is not None and meta["high"] is not None:
        text += f" Range {meta['low']:g} to {meta['high']:g}."
    if meta["choices"]:
        text += f" One of {', '.join(meta['choices'])}."
    if kind is FieldKind.MAPPING:
        text += " Write pairs as from:to, separated by commas."
    return text


# --- values: config <-> widgets ------------------------------------------------------------------

def to_widget_value(f: dataclasses.Field, value: Any) -> Any:
    """A config value as its widget holds it: a mapping as 'a:b, c:d', numbers of the field's
    type, a list copied."""
    kind = field_kind(f)
    if kind is FieldKind.MAPPING:
        return ", ".join(f"{src}:{dst}" for src, dst in dict(value).items())
    if kind is FieldKind.CLASSES:
        return list(value)
    return kind.python_type(value) if kind in _NUMBERS else value


def from_widget_values(values: dict[str, Any]) -> dict[str, Any]:
    """Widget values as typed TrainConfig values (names that are not fields are left out);
    a malformed mapping raises ``ConfigError`` naming the field and the bad pair."""
    return {f.name: _from_widget(f.name, field_kind(f), values[f.name])
            for f in config_fields() if f.name in values}


def _from_widget(name: str, kind: FieldKind, value: Any) -> Any:
    if kind is FieldKind.MAPPING:
        return parse_text(name, str(value or ""))
    if kind is FieldKind.CLASSES:
        return list(value or [])
    return str(value or "").strip() if kind is FieldKind.TEXT else value


def build_config(values: dict[str, Any]) -> TrainConfig:
    """The TrainConfig a form describes; raises ``ConfigError`` with the field's message."""
    return TrainConfig.from_dict(from_widget_values(values))


def preset_description(name: str) -> str:
    """A sentence on what the preset is for, then its key settings (always true to PRESETS)."""
    config = preset(name)
    epochs = (f"{config.time_budget_min:g} min budget" if config.time_budget_min
              else f"{config.epochs} epochs")
    settings = (f"{config.backbone}, {epochs}"
                + (f" + {config.finetune_epochs} fine-tuning" if config.finetune_epochs
                   and not config.time_budget_min else "")
                + f", lr {config.learning_rate:g}, batch {config.batch_size}")
    note = PRESET_NOTES.get(name, "")
    return f"{note} ({settings})" if note else settings
