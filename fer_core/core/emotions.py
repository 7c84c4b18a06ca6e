"""The seven emotion classes: names, order, colours and synonyms (other class sets are
``fer_core.data.classnames``'s). The order is alphabetical, as Keras' loaders and the Kaggle
folders give it; ``fer2013.csv`` numbers classes differently, so data is mapped by *name*.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

# Colours chosen to stay distinguishable for the common forms of colour blindness (Okabe-Ito).
# Charts take them through ``fer_core.data.classnames.class_colors``, which colours any class set.
COLORS: dict[str, str] = {
    "angry": "#D55E00",
    "disgust": "#009E73",
    "fear": "#CC79A7",
    "happy": "#E69F00",
    "neutral": "#999999",
    "sad": "#0072B2",
    "surprise": "#56B4E9",
}

# Folder names seen in the wild for the same classes (other FER data sets, translations of the
# Kaggle layout). Matched after lower-casing and stripping.
SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
}

# The original challenge CSV's ``emotion`` codes (0 Angry ... 6 Neutral), mapped to names.
FER2013_CSV_CODES: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}


def canonical_emotion(name: str) -> str | None:
    """Return the project's name for a class folder or label, or ``None`` if it is unknown."""
    return SYNONYMS.get(name.strip().lower())
