"""The training form, generated from TrainConfig's field metadata (one source of truth).

Every field of ``TrainConfig`` gets a widget chosen by its type and metadata: numbers get
``st.number_input`` bounded by the field's range, fields with choices a selectbox, booleans a
checkbox, the backbone a selectbox of the registry with descriptions, ``drop_classes`` a
multiselect and ``merge_classes`` a ``disgust:angry`` text. A field added to ``TrainConfig``
appears here without touching this file.

The widgets hold their values in session state under ``train.cfg.<field>``. Choosing a preset
writes that preset's values into those keys (a widget callback, so it happens before the
widgets are drawn); a shadow copy keeps the form when the user visits another page, where
Streamlit forgets the state of widgets it did not draw.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

from fer_core.config import GROUPS, PRESETS, TrainConfig, config_fields, parse_override, preset
from fer_core.emotions import EMOTIONS
from fer_core.training.models import BACKBONES, backbone_names

KEY_PREFIX = "train.cfg."
PRESET_KEY = "train.preset"
SAVED_KEY = "train.saved_form"  # {"preset": name, "values": {field: widget value}}
DEFAULT_PRESET = "fast-cpu" if "fast-cpu" in PRESETS else next(iter(PRESETS))

PRESET_NOTES = {
    "seed-baseline": "The seed report's InceptionV3 transfer learning with the backbone "
                     "frozen (44.1% test accuracy there). Slow on a CPU; needs the ImageNet "
                     "weights.",
    "seed-finetuned": "seed-baseline, then the top 50 layers fine-tuned at 1e-5 (49.0% there).",
    "seed-no-disgust": "seed-finetuned without the rare disgust class: 6 classes (48.7% there).",
    "fast-cpu": "A compact CNN at native 48x48 trained from scratch: minutes on two CPU cores. "
                "A good first run.",
    "best": "The most accurate recipe found so far: a VGG-style CNN, SGD with cosine decay, "
            "random crops and test-time augmentation. A GPU helps.",
}


def widget_key(name: str) -> str:
    return f"{KEY_PREFIX}{name}"


def preset_description(name: str) -> str:
    """A sentence on what the preset is for, then its key settings (always true to PRESETS)."""
    config = preset(name)
    settings = (f"{config.backbone}, {config.epochs} epochs"
                + (f" + {config.finetune_epochs} fine-tuning" if config.finetune_epochs else "")
                + f", lr {config.learning_rate:g}, batch {config.batch_size}")
    note = PRESET_NOTES.get(name, "")
    return f"{note} ({settings})" if note else settings


# --- values: config <-> widgets ------------------------------------------------------------------

def kind_of(f: dataclasses.Field) -> str:
    """The widget kind of a field: number, choice, backbone, bool, classes, mapping or text."""
    declared = str(f.type)
    if f.name == "backbone":
        return "backbone"
    if declared == "bool":
        return "bool"
    if declared in ("int", "float"):
        return "number"
    if declared.startswith("list"):
        return "classes"
    if declared.startswith("dict"):
        return "mapping"
    if f.metadata.get("choices"):
        return "choice"
    return "text"


def to_widget_value(f: dataclasses.Field, value: Any) -> Any:
    """A config value as its widget holds it (a mapping as 'a:b, c:d'; floats as floats)."""
    kind = kind_of(f)
    if kind == "mapping":
        return ", ".join(f"{src}:{dst}" for src, dst in dict(value).items())
    if kind == "classes":
        return list(value)
    if str(f.type) == "float":
        return float(value)
    if str(f.type) == "int":
        return int(value)
    return value


def config_values(values: dict[str, Any]) -> dict[str, Any]:
    """Widget values as TrainConfig values; a malformed mapping raises ``ConfigError``."""
    out: dict[str, Any] = {}
    for f in config_fields():
        if f.name not in values:
            continue
        value = values[f.name]
        kind = kind_of(f)
        if kind == "mapping":
            value = parse_override(f"{f.name}={value}")[1] if str(value).strip() else {}
        elif kind == "classes":
            value = list(value or [])
        elif kind == "text":
            value = str(value or "").strip()
        out[f.name] = value
    return out


def build_config(values: dict[str, Any]) -> TrainConfig:
    """The TrainConfig the form describes; raises ``ConfigError`` with the field's message."""
    return TrainConfig.from_dict(config_values(values))


@dataclass(frozen=True)
class NumberSpec:
    """How a numeric field is drawn: bounds from its metadata, a step and a display format."""

    min_value: int | float | None
    max_value: int | float | None
    step: int | float
    format: str


def number_spec(f: dataclasses.Field) -> NumberSpec:
    """Bounds, step and format of a number field, all of the field's own type (Streamlit
    refuses mixed int/float arguments)."""
    low, high = f.metadata.get("low"), f.metadata.get("high")
    if str(f.type) == "int":
        return NumberSpec(None if low is None else int(low), None if high is None else int(high),
                          1, "%d")
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    if low is not None and low > 0 and high is not None and high / low >= 1e3:
        step = 10.0 ** math.floor(math.log10(low) + 2)  # log-scale values: learning rates
    elif low is not None and high is not None and high - low >= 10:
        step = 1.0
    else:
        step = 0.01
    return NumberSpec(low, high, step, "%g")  # %g: 0.0001 stays readable, unlike %.2f


def help_text(f: dataclasses.Field) -> str:
    meta = f.metadata
    text = meta.get("help", "")
    if meta.get("low") is not None and meta.get("high") is not None:
        text += f" Range {meta['low']:g} to {meta['high']:g}."
    if meta.get("choices"):
        text += f" One of {', '.join(meta['choices'])}."
    return text


# --- session state -------------------------------------------------------------------------------

def apply_preset(name: str | None = None) -> None:
    """Reset every field to the preset's value (the preset selectbox's callback)."""
    name = name or st.session_state.get(PRESET_KEY) or DEFAULT_PRESET
    config = preset(name)
    for f in config_fields():
        st.session_state[widget_key(f.name)] = to_widget_value(f, getattr(config, f.name))


def init_form_state() -> None:
    """Fill the form's keys once: from the copy saved on the last visit, else the preset."""
    saved = st.session_state.get(SAVED_KEY) or {}
    if PRESET_KEY not in st.session_state:
        st.session_state[PRESET_KEY] = saved.get("preset", DEFAULT_PRESET)
    missing = [f for f in config_fields() if widget_key(f.name) not in st.session_state]
    if not missing:
        return
    defaults = preset(st.session_state[PRESET_KEY])
    remembered = saved.get("values", {})
    for f in missing:
        value = remembered.get(f.name, to_widget_value(f, getattr(defaults, f.name)))
        st.session_state[widget_key(f.name)] = value


def _remember(values: dict[str, Any]) -> None:
    st.session_state[SAVED_KEY] = {"preset": st.session_state.get(PRESET_KEY),
                                   "values": dict(values)}


# --- widgets -------------------------------------------------------------------------------------

def render_preset_picker() -> str:
    """The preset selectbox; choosing one resets the form to it. Returns the preset name."""
    init_form_state()
    name = st.selectbox(
        "Preset", list(PRESETS), key=PRESET_KEY, on_change=apply_preset,
        help="A named recipe. Choosing one resets every field below to its values.",
    )
    st.caption(preset_description(name))
    return name


def render_config_form() -> dict[str, Any]:
    """Every TrainConfig field, one tab per metadata group; returns the widget values."""
    init_form_state()
    fields = config_fields()
    groups = [g for g in GROUPS if any(f.metadata["group"] == g for f in fields)]
    groups += sorted({f.metadata["group"] for f in fields} - set(groups))
    values: dict[str, Any] = {}
    for group, tab in zip(groups, st.tabs([g.capitalize() for g in groups]), strict=True):
        with tab:
            members = [f for f in fields if f.metadata["group"] == group]
            columns = st.columns(2)
            for n, f in enumerate(members):
                with columns[n % 2]:
                    values[f.name] = render_field(f)
    _remember(values)
    return values


def render_field(f: dataclasses.Field) -> Any:
    """One widget, picked by the field's kind; its value lives in session state."""
    key, label, help_ = widget_key(f.name), _label(f.name), help_text(f)
    kind = kind_of(f)
    if kind == "number":
        spec = number_spec(f)
        return st.number_input(label, min_value=spec.min_value, max_value=spec.max_value,
                               step=spec.step, format=spec.format, key=key, help=help_)
    if kind == "bool":
        return st.checkbox(label, key=key, help=help_)
    if kind == "choice":
        return st.selectbox(label, list(f.metadata["choices"]), key=key, help=help_)
    if kind == "backbone":
        name = st.selectbox(label, backbone_names(), key=key, help=help_,
                            format_func=_backbone_label)
        spec = BACKBONES[name]
        st.caption(f"{spec.description} Native size {spec.native_size} px"
                   + ("; ImageNet weights available." if spec.pretrained else "; no "
                      "pre-trained weights (use weights = none)."))
        return name
    if kind == "classes":
        chosen = st.session_state.get(key) or []
        options = list(EMOTIONS) + [c for c in chosen if c not in EMOTIONS]
        return st.multiselect(label, options, key=key, help=help_)
    if kind == "mapping":
        return st.text_input(label, key=key, help=help_ + " Write pairs as from:to, "
                             "separated by commas.", placeholder="disgust:angry")
    placeholder = "the data set chosen in the sidebar" if f.name == "data" else None
    return st.text_input(label, key=key, help=help_, placeholder=placeholder)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _backbone_label(name: str) -> str:
    spec = BACKBONES.get(name)
    return f"{name}: {spec.description}" if spec else name
