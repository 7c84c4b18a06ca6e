"""Label overrides: the user's decisions to exclude an image or give it another label.

The user's files never change: decisions live in the cache, in a file that records the data
set's fingerprint, so a copy that reaches other data is ignored instead of changing the wrong
images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fer_core.core import access, atomic, settings
from fer_core.core.emotions import canonical_emotion
from fer_core.core.errors import DataError
from fer_core.data.dataset import Dataset

log = logging.getLogger("fer_core.data")

RECORD_KEY = "label_overrides"  # config.json's key for what training applied


@dataclass(frozen=True)
class LabelOverrides:
    """Which images (by id) to leave out and which to train under another label."""

    fingerprint: str
    exclude: tuple[str, ...] = ()
    relabel: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.exclude or self.relabel)

    @classmethod
    def from_json(cls, data: Any) -> LabelOverrides:
        data = data if isinstance(data, dict) else {}
        exclude = data.get("exclude") if isinstance(data.get("exclude"), list) else []
        relabel = data.get("relabel") if isinstance(data.get("relabel"), dict) else {}
        return cls(fingerprint=str(data.get("fingerprint") or ""),
                   exclude=tuple(sorted({str(i) for i in exclude})),
                   relabel={str(k): str(v) for k, v in sorted(relabel.items())})

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "exclude": list(self.exclude),
                "relabel": dict(self.relabel)}

    def choice(self, image_id: str) -> str | None:
        """``"exclude"``, the new label, or ``None`` when the image is as given."""
        if image_id in self.exclude:
            return "exclude"
        return self.relabel.get(image_id)

    def with_exclude(self, *image_ids: str) -> LabelOverrides:
        rest = self.without(*image_ids)
        return replace(rest, exclude=tuple(sorted({*rest.exclude, *image_ids})))

    def with_relabel(self, label: str, *image_ids: str) -> LabelOverrides:
        rest = self.without(*image_ids)
        chosen = {**rest.relabel, **dict.fromkeys(image_ids, label)}
        return replace(rest, relabel=dict(sorted(chosen.items())))

    def without(self, *image_ids: str) -> LabelOverrides:
        """The images back as given (undo)."""
        ids = set(image_ids)
        return replace(self, exclude=tuple(i for i in self.exclude if i not in ids),
                       relabel={k: v for k, v in self.relabel.items() if k not in ids})


# --- the user's file in the cache folder ---------------------------------------------------------

def overrides_path(fingerprint: str) -> Path:
    return settings.cache_dir() / "overrides" / f"{fingerprint}.json"


def load(fingerprint: str) -> LabelOverrides:
    """The data set's overrides (empty when none were made)."""
    found, _ = read_file(overrides_path(fingerprint), fingerprint)
    return found or LabelOverrides(fingerprint)


def save(overrides: LabelOverrides) -> LabelOverrides:
    access.ensure_writable("Changing label overrides")
    atomic.write_json(overrides_path(overrides.fingerprint), overrides.to_json())
    return overrides


def exclude(ds: Dataset, *image_ids: str) -> LabelOverrides:
    """Leave images out of training from now on (one, or the most suspect hundreds at once)."""
    _known_images(ds, image_ids)
    return save(load(ds.fingerprint).with_exclude(*image_ids))


def relabel(ds: Dataset, image_id: str, label: str, *more_ids: str) -> LabelOverrides:
    """Train on an image (or several: a region of the map) under ``label`` from now on."""
    ids = (image_id, *more_ids)
    _known_images(ds, ids)
    name = canonical_emotion(label) or label.strip().lower()  # class names are lower-case
    if name not in ds.classes:
        raise DataError(f"label must be one of {', '.join(ds.classes)}; got {label!r}.")
    return save(load(ds.fingerprint).with_relabel(name, *ids))


def restore(ds: Dataset, *image_ids: str) -> LabelOverrides:
    """Undo: the images train as given again."""
    return save(load(ds.fingerprint).without(*image_ids))


def _known_images(ds: Dataset, image_ids: tuple[str, ...]) -> None:
    unknown = sorted(set(image_ids) - set(ds.index["id"]))
    if unknown:
        raise DataError(f"image must be one of the data set's ids; got {unknown[0]!r}"
                        + (f" and {len(unknown) - 1:,} more." if len(unknown) > 1 else "."))


def read_file(path: Path, fingerprint: str) -> tuple[LabelOverrides | None, str | None]:
    """The overrides in ``path`` if made for ``fingerprint``; else ``None`` and, when they were
    made for other data, a note that says so."""
    data = atomic.read_json(path)
    if data is None:
        return None, None
    found = LabelOverrides.from_json(data)
    if found.fingerprint != fingerprint:
        return None, (f"Label overrides in {path.name} were made for another data set "
                      f"(fingerprint {found.fingerprint[:12] or 'missing'}, this one "
                      f"{fingerprint[:12]}); they were ignored, not applied.")
    return found, None


# --- applying them -------------------------------------------------------------------------------

def apply(ds: Dataset, overrides: LabelOverrides) -> tuple[Dataset, dict[str, int]]:
    """The data set with the overrides it can apply (known ids and classes), and their counts."""
    ids = ds.index["id"]
    dropped = ids.isin(overrides.exclude).to_numpy()
    relabels = {k: v for k, v in overrides.relabel.items() if v in ds.classes}
    changed = ids.map(relabels)
    moved = (changed.notna() & ~dropped).to_numpy()
    index = ds.index.copy()
    index.loc[moved, "label"] = changed[moved]
    out = replace(ds, index=index).subset(~dropped)
    return out, {"excluded": int(dropped.sum()), "relabelled": int(moved.sum())}
