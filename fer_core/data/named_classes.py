"""Settings that name a class (``seed-no-disgust`` drops disgust) must find it in the data:
checked before anything trains, with a message naming the preset, not deep in a job."""

from __future__ import annotations

from collections.abc import Sequence

from fer_core.core.config import PRESETS, TrainConfig
from fer_core.core.emotions import canonical_emotion
from fer_core.core.errors import DataError

# The settings whose values are class names, and how each uses them.
CLASS_FIELDS: dict[str, str] = {"drop_classes": "drops", "merge_classes": "merges"}


def named_classes(config: TrainConfig) -> dict[str, list[str]]:
    """Per setting, the class names it mentions (both sides of a merge)."""
    merged = [name for pair in config.merge_classes.items() for name in pair]
    return {"drop_classes": list(config.drop_classes), "merge_classes": merged}


def preset_naming(config: TrainConfig, field: str) -> str | None:
    """The preset whose value of ``field`` the config carries, e.g. seed-no-disgust's
    ``drop_classes``: the run's config holds values, not the preset they came from."""
    value = getattr(config, field)
    if not value:
        return None
    return next((name for name, values in PRESETS.items() if values.get(field) == value), None)


def check_named_classes(config: TrainConfig, classes: Sequence[str], *,
                        preset: str | None = None) -> None:
    """Raise ``DataError`` if a class the config names is not among ``classes``."""
    for field, names in named_classes(config).items():
        missing = [n for n in names if (canonical_emotion(n) or n.strip().lower()) not in classes]
        if not missing:
            continue
        source = preset if preset and (PRESETS.get(preset, {}).get(field)) else None
        source = source or preset_naming(config, field)
        who = f"Preset {source}" if source else f"The setting {field}"
        raise DataError(f"{who} {CLASS_FIELDS[field]} the class {', '.join(map(repr, missing))}, "
                        "but this data set has no such class; its classes are "
                        f"{', '.join(classes)}. Pick a preset without it or change {field}.")
