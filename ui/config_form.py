"""Draws TrainConfig widgets from ``views.forms``' specs: the Train form and Explore's controls.
The form's values live in session state under ``train.cfg.<field>``; a preset writes them from a
callback (so before the widgets are drawn), and a shadow copy keeps the form across a visit to
another page, where Streamlit forgets the state of widgets it did not draw."""

from __future__ import annotations

from typing import Any

import streamlit as st

from fer_core.core.backbones import BACKBONES
from fer_core.core.config import GROUPS, PRESETS, FieldKind, config_fields, preset
from fer_core.core.emotions import EMOTIONS
from views import forms

KEY_PREFIX = "train.cfg."
PRESET_KEY = "train.preset"
SAVED_KEY = "train.saved_form"  # {"preset": name, "values": {field: widget value}}
DEFAULT_PRESET = "fast-cpu" if "fast-cpu" in PRESETS else next(iter(PRESETS))


def widget_key(name: str) -> str:
    return f"{KEY_PREFIX}{name}"


# --- session state -------------------------------------------------------------------------------

def apply_preset(name: str | None = None) -> None:
    """Reset every field to the preset's value (the preset selectbox's callback)."""
    name = name or st.session_state.get(PRESET_KEY) or DEFAULT_PRESET
    config = preset(name)
    for f in config_fields():
        st.session_state[widget_key(f.name)] = forms.to_widget_value(f, getattr(config, f.name))


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
        value = remembered.get(f.name, forms.to_widget_value(f, getattr(defaults, f.name)))
        st.session_state[widget_key(f.name)] = value


# --- widgets -------------------------------------------------------------------------------------

def render_preset_picker() -> str:
    init_form_state()
    name = st.selectbox("Preset", list(PRESETS), key=PRESET_KEY, on_change=apply_preset,
                        help="A named recipe. Choosing one resets every field below to its values.")
    st.caption(forms.preset_description(name))
    return name


def render_config_form() -> dict[str, Any]:
    """Every TrainConfig field, one tab per metadata group; returns the widget values."""
    init_form_state()
    fields = config_fields()
    groups = [g for g in GROUPS if any(f.metadata["group"] == g for f in fields)]
    groups += sorted({f.metadata["group"] for f in fields} - set(groups))
    values: dict[str, Any] = {}
    for group, tab in zip(groups, st.tabs([forms.group_title(g) for g in groups]), strict=True):
        with tab:
            members = [f for f in fields if f.metadata["group"] == group]
            columns = st.columns(2)
            for n, f in enumerate(members):
                with columns[n % 2]:
                    values[f.name] = render_widget(forms.widget_spec(f), widget_key(f.name))
    st.session_state[SAVED_KEY] = {"preset": st.session_state.get(PRESET_KEY), "values": values}
    return values


def render_widget(spec: forms.WidgetSpec, key: str) -> Any:
    """The spec's widget under ``key``; its value lives in session state, seeded with the
    field's default the first time (so a page resets a widget by deleting its key)."""
    st.session_state.setdefault(key, spec.default)
    common = {"key": key, "help": spec.help}
    if spec.kind is FieldKind.BOOL:
        return st.checkbox(spec.label, **common)
    if spec.kind in (FieldKind.INT, FieldKind.FLOAT):
        draw = st.slider if spec.slider else st.number_input
        return draw(spec.label, min_value=spec.low, max_value=spec.high, step=spec.step,
                    format=spec.format, **common)
    if spec.kind is FieldKind.CHOICE:
        return st.selectbox(spec.label, list(spec.choices), **common)
    if spec.kind is FieldKind.BACKBONE:
        return _render_backbone(spec, common)
    if spec.kind is FieldKind.CLASSES:
        chosen = st.session_state.get(key) or []
        options = list(EMOTIONS) + [c for c in chosen if c not in EMOTIONS]
        # Typed names are accepted: a data set may have any class (contempt, pain).
        return st.multiselect(spec.label, options, accept_new_options=True, **common)
    return st.text_input(spec.label, placeholder=spec.placeholder, **common)


def _render_backbone(spec: forms.WidgetSpec, common: dict[str, Any]) -> str:
    name = st.selectbox(spec.label, list(spec.choices), format_func=_backbone_label, **common)
    backbone = BACKBONES[name]
    st.caption(f"{backbone.description} Native size {backbone.native_size} px"
               + ("; ImageNet weights available." if backbone.pretrained else "; no "
                  "pre-trained weights (use weights = none)."))
    return name


def _backbone_label(name: str) -> str:
    spec = BACKBONES.get(name)
    return f"{name}: {spec.description}" if spec else name
