"""Which folder names are classes: other FER data sets bring their own labels (contempt,
compound emotions), so any folder name can be one. Four rules, in order:

1. hidden or system folders (``.ipynb_checkpoints``, ``__MACOSX``) and split-like names
   (``train``, ``val``, ``test``...) are never classes;
2. a synonym of one of the seven emotions (``happiness``, ``Surprised``) is that emotion;
3. a near-miss of an emotion name (``hapy``, ``suprise``, ``angery``) is an error suggesting
   the name: silently making it an eighth class would split one emotion in two;
4. anything else (``contempt``, ``unknown``, ``pain``) is its own class, lower-cased.

Classes are ordered alphabetically, as Keras' directory loaders order them (and the seven
emotions' order already is).
"""

from __future__ import annotations

import difflib

from fer_core.core.emotions import COLORS, EMOTIONS, SYNONYMS, canonical_emotion
from fer_core.core.errors import DataError

MIN_CLASSES = 2
MAX_CLASSES = 50

# Split folder names seen in FER downloads, mapped to the project's three splits.
SPLIT_NAMES: dict[str, str] = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "publictest": "test", "privatetest": "test",
}

# How close a name must be to an emotion word to count as its misspelling (difflib's ratio,
# 2 * matching letters / both lengths). One slipped letter in these 3 to 9 letter words scores
# at least 0.86 (sadd 0.86, fea 0.86, nuetral 0.86, hapy 0.89, angy 0.89, suprise 0.93), while
# words that may be real classes stay below 0.85: derived words (happily 0.83, neutrality
# 0.82), RAF-DB's compound labels (happily_surprised 0.69, sadly_angry 0.62), and CK+'s and
# AffectNet's other labels (contempt 0.31, unknown 0.20, pain 0.46).
NEAR_MISS_CUTOFF = 0.85


def is_ignored_folder(name: str) -> bool:
    """Hidden and system folders: never data, never classes."""
    stripped = name.strip()
    return stripped.startswith((".", "__")) or not stripped


def is_split_name(name: str) -> bool:
    return name.strip().lower() in SPLIT_NAMES


def class_name(folder: str) -> str | None:
    """The class a folder holds, or ``None`` for a folder that is never a class."""
    if is_ignored_folder(folder) or is_split_name(folder):
        return None
    known = canonical_emotion(folder)
    if known is not None:
        return known
    name = " ".join(folder.strip().lower().split())
    close = difflib.get_close_matches(name, SYNONYMS, n=1, cutoff=NEAR_MISS_CUTOFF)
    if close:
        meant = SYNONYMS[close[0]]
        also = f" (or {close[0]!r})" if close[0] != meant else ""
        raise DataError(f"Class folder {folder!r} looks like a misspelling of {close[0]!r}; rename "
                        f"it to {meant!r}{also}, or if it really is another class, give it a name "
                        f"further from the emotion names ({', '.join(EMOTIONS)}).")
    return name


def order_classes(names: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Alphabetical order (the seven emotions' order is alphabetical too)."""
    return tuple(sorted(set(names)))


def check_class_count(classes: tuple[str, ...] | list[str], where: str) -> None:
    """Refuse fewer than 2 or more than 50 classes, listing what was found."""
    n = len(classes)
    if MIN_CLASSES <= n <= MAX_CLASSES:
        return
    shown = ", ".join(list(classes)[:12]) + (" ..." if n > 12 else "")
    fix = ("Add folders of at least one more class: a classifier needs two."
           if n < MIN_CLASSES else "Merge or remove classes, or group them in fewer folders.")
    raise DataError(f"{where} must hold between {MIN_CLASSES} and {MAX_CLASSES} classes; got "
                    f"{n}{': ' + shown if n else ''}. {fix}")


# Colours for classes beyond the seven: Okabe-Ito's remaining colours, then a 20-colour
# categorical set (Tableau 10 and its light tints), then evenly spread hues at three
# lightness levels, so any 50 classes get 50 different colours.
_EXTRA_COLORS: tuple[str, ...] = (
    "#F0E442", "#000000", "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948",
    "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC", "#A0CBE8", "#FFBE7D", "#8CD17D", "#B6992D",
    "#86BCB6", "#F1CE63", "#D37295", "#FABFD2", "#D4A6C8", "#79706E",
)


def _hue_colors(n: int) -> list[str]:
    import colorsys

    out = []
    for i in range(n):
        hue = (i * 0.618033988749895) % 1.0  # golden-ratio steps: neighbours differ most
        light = (0.35, 0.55, 0.72)[i % 3]
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.65)
        out.append(f"#{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}")
    return out


def class_colors(classes: tuple[str, ...] | list[str]) -> list[str]:
    """One distinct colour per class, in the order given: the seven emotions keep theirs
    (``emotions.COLORS``); the other classes, taken alphabetically, get the next unused colour
    of a fixed list, so a class's colour depends on the class set, not on the chart."""
    used = {COLORS[c] for c in classes if c in COLORS}
    others = iter(c for c in (*_EXTRA_COLORS, *_hue_colors(MAX_CLASSES)) if c not in used)
    by_name = {c: COLORS[c] if c in COLORS else next(others) for c in sorted(set(classes))}
    return [by_name[c] for c in classes]
