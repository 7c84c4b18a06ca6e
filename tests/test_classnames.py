"""Which folder names are classes, their order, their colours, and presets naming a class."""

from __future__ import annotations

import pytest

from fer_core.core.config import preset
from fer_core.core.emotions import COLORS, EMOTIONS
from fer_core.core.errors import DataError
from fer_core.data.classnames import (
    MAX_CLASSES,
    check_class_count,
    class_colors,
    class_name,
    order_classes,
)
from fer_core.data.named_classes import check_named_classes

NAMING_CASES = [
    ("happy", "happy"), ("Happiness", "happy"), (" SURPRISED ", "surprise"), ("anger", "angry"),
    ("scared", "fear"), ("contempt", "contempt"), ("Unknown", "unknown"), ("pain", "pain"),
    ("happily_surprised", "happily_surprised"), ("Not Face", "not face"),
    (".ipynb_checkpoints", None), ("__MACOSX", None), (".hidden", None), ("train", None),
    ("Validation", None), ("val", None), ("test", None), ("PublicTest", None),
]


@pytest.mark.parametrize(("folder", "expected"), NAMING_CASES)
def test_class_name_table_maps_each_folder(folder, expected):
    assert class_name(folder) == expected


@pytest.mark.parametrize(("folder", "meant"), [("hapy", "happy"), ("suprise", "surprise"),
                                                ("angery", "angry"), ("Nuetral", "neutral"),
                                                ("digust", "disgust"), ("sadd", "sad")])
def test_class_name_near_miss_raises_with_suggestion(folder, meant):
    with pytest.raises(DataError, match=f"{folder!r} looks like a misspelling .*rename it to "
                                        f"{meant!r}"):
        class_name(folder)


def test_order_classes_is_alphabetical_and_keeps_the_seven_in_order():
    assert order_classes(set(EMOTIONS)) == EMOTIONS
    assert order_classes({"pain", "contempt", "happy"}) == ("contempt", "happy", "pain")


@pytest.mark.parametrize("n", [0, 1, MAX_CLASSES + 1])
def test_check_class_count_outside_2_to_50_raises(n):
    with pytest.raises(DataError, match=f"between 2 and 50 classes; got {n}"):
        check_class_count([f"c{i:02d}" for i in range(n)], "x")


def test_class_colors_keep_the_seven_and_differ_for_50():
    assert class_colors(list(EMOTIONS)) == [COLORS[e] for e in EMOTIONS]
    many = [*EMOTIONS, *(f"class{i:02d}" for i in range(MAX_CLASSES - len(EMOTIONS)))]
    colors = class_colors(many)
    assert len(set(colors)) == MAX_CLASSES
    assert colors[:len(EMOTIONS)] == [COLORS[e] for e in EMOTIONS]
    assert class_colors(["pain", "happy"])[1] == COLORS["happy"]
    assert class_colors(["pain", "contempt"]) == class_colors(["contempt", "pain"])[::-1]


def test_check_named_classes_absent_class_names_preset_class_and_present():
    config = preset("seed-no-disgust")
    with pytest.raises(DataError, match="Preset seed-no-disgust drops the class 'disgust'.*"
                                        "its classes are contempt, happy, sad"):
        check_named_classes(config, ("contempt", "happy", "sad"))
    check_named_classes(config, EMOTIONS)  # present: no error


def test_check_named_classes_merge_names_the_setting():
    config = preset("fast-cpu").replace(merge_classes={"pain": "sad"})
    with pytest.raises(DataError, match="The setting merge_classes merges the class 'pain'"):
        check_named_classes(config, ("happy", "sad"))
    check_named_classes(config, ("pain", "happy", "sad"))
