"""TrainConfig: defaults, presets, validation messages, overrides and the JSON round trip."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_core.core.config import (
    PRESETS,
    FieldKind,
    TrainConfig,
    config_field,
    config_fields,
    field_kind,
    field_names,
    parse_override,
    preset,
    resolve_config,
)
from fer_core.core.errors import ConfigError

REQUIRED_FIELDS = {
    "backbone", "epochs", "finetune_epochs", "learning_rate", "finetune_learning_rate",
    "batch_size", "dropout", "unfreeze_layers", "subsample_per_class", "drop_classes",
    "class_weights", "seed",
}


def test_train_config_defaults_follow_the_seed_report():
    config = TrainConfig()
    assert (config.val_fraction, config.rotation, config.dropout) == (0.2, 20.0, 0.5)
    assert (config.epochs, config.learning_rate, config.batch_size) == (30, 1e-4, 32)
    assert (config.unfreeze_layers, config.finetune_learning_rate) == (50, 1e-5)
    assert config.backbone == "inceptionv3" and config.optimizer == "adam"


def test_train_config_has_the_documented_field_names():
    assert set(field_names()) >= REQUIRED_FIELDS


def test_every_field_has_help_and_a_group():
    for f in config_fields():
        assert f.metadata["help"] and f.metadata["group"], f.name


def test_every_field_kind_agrees_with_its_annotation_and_default():
    names = {int: "int", float: "float", bool: "bool", str: "str", list: "list", dict: "dict"}
    for f in config_fields():
        kind = field_kind(f)
        assert str(f.type).startswith(names[kind.python_type]), f.name
        assert isinstance(getattr(TrainConfig(), f.name), kind.python_type), f.name
    assert field_kind(config_field("backbone")) is FieldKind.BACKBONE


def test_train_config_json_round_trip_is_identical():
    config = preset("seed-no-disgust")
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.drop_classes == ["disgust"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_a_valid_config(name):
    assert isinstance(preset(name), TrainConfig)


def test_seed_presets_differ_as_in_the_report():
    base, tuned = preset("seed-baseline"), preset("seed-finetuned")
    assert base.input_size == tuned.input_size == 224
    assert base.finetune_epochs == 0 and tuned.finetune_epochs > 0
    assert (tuned.unfreeze_layers, tuned.finetune_learning_rate, tuned.dropout) == (50, 1e-5, 0.6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dropout": 1.5}, r"dropout must be between 0 and 0.9; got 1.5"),
        ({"batch_size": 0}, r"batch_size must be between 1 and 2048; got 0"),
        ({"optimizer": "rmsprop"}, r"optimizer must be one of adam, adamw, sgd; got 'rmsprop'"),
        ({"backbone": "vgg99"}, r"backbone must be one of .*inceptionv3.*; got 'vgg99'"),
        ({"epochs": "ten"}, r"epochs must be of type int; got str 'ten'"),
        ({"augment": 1}, r"augment must be of type bool"),
        ({"weights": "~/inception.pt"}, r"weights must be none, imagenet or the path of a "
                                        r"notop \.h5 weights file .*got '~/inception.pt'"),
    ],
)
def test_train_config_invalid_value_names_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_from_dict_unknown_key_lists_valid_ones():
    with pytest.raises(ConfigError, match="Unknown config field.*lernrate.*Valid fields: data"):
        TrainConfig.from_dict({"lernrate": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("epochs=3", ("epochs", 3)),
        ("learning_rate=1e-3", ("learning_rate", 1e-3)),
        ("augment=false", ("augment", False)),
        ("drop_classes=disgust,fear", ("drop_classes", ["disgust", "fear"])),
        ("merge_classes=disgust:angry", ("merge_classes", {"disgust": "angry"})),
        ("backbone=fer-cnn", ("backbone", "fer-cnn")),
    ],
)
def test_parse_override_types_value_from_field(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs", "key=value"),
        ("epoch=3", "Unknown config field 'epoch'"),
        ("epochs=3.5", "epochs must be a int"),
        ("augment=maybe", "augment must be a bool"),
        ("merge_classes=disgust:angry, x", r"merge_classes takes from:to pairs .*'x' is not one"),
        ("merge_classes=disgust:", "'disgust:' is not one"),
    ],
)
def test_parse_override_bad_input_is_a_clear_error(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_override(text)


def test_resolve_config_applies_preset_then_file_then_overrides(tmp_path):
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"epochs": 7, "dropout": 0.3}))
    config = resolve_config(preset_name="fast-cpu", config_file=file,
                            overrides=["epochs=2"], data="/some/where")
    assert (config.backbone, config.dropout, config.epochs) == ("fer-cnn", 0.3, 2)
    assert config.data == "/some/where"


# Generous limits: a loaded 2-core CI machine must not turn slowness into a failure.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200)


@FUZZ
@given(st.dictionaries(st.sampled_from(field_names()),
                       st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=8),
                                 st.booleans(), st.none(), st.lists(st.text(max_size=4))),
                       max_size=4))
def test_from_dict_fuzzed_values_give_a_config_or_a_config_error(values):
    try:
        config = TrainConfig.from_dict(values)
    except ConfigError:
        return
    assert TrainConfig.from_dict(config.to_dict()) == config


@FUZZ
@given(st.text(max_size=30))
def test_parse_override_fuzzed_text_never_crashes(text):
    with contextlib.suppress(ConfigError):
        parse_override(text)
