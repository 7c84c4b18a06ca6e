"""Decode an index into one uint8 array of 48x48 grey images, and cache it on disk. Problems
are counted or listed rather than raised: one bad file in 30,000 must not stop a user."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fer_core.core.atomic import atomic_path
from fer_core.core.emotions import FER2013_CSV_CODES
from fer_core.core.settings import IMAGE_SIZE
from fer_core.data.faces import resize_48, to_grey

CACHE_FORMAT = 1  # bump when the cached array layout changes, so old caches are ignored
PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE
_DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


@dataclass
class LoadReport:
    """What happened while loading: the user sees this beside the data set."""

    n_listed: int = 0
    n_loaded: int = 0
    converted_to_grey: int = 0
    resized: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    ignored_files: list[str] = field(default_factory=list)
    empty_class_folders: list[str] = field(default_factory=list)
    outside_links: list[str] = field(default_factory=list)
    from_cache: bool = False

    def to_dict(self, *, max_examples: int = 20) -> dict:
        data = asdict(self)
        data["n_skipped"] = len(self.skipped)
        data["skipped"] = [list(item) for item in self.skipped[:max_examples]]
        data["ignored_files"] = self.ignored_files[:max_examples]
        return data

    def summary(self) -> list[str]:
        """Human-readable lines, one per finding, for the CLI and the app."""
        lines = [f"{self.n_loaded:,} of {self.n_listed:,} images loaded"]
        if self.converted_to_grey:
            lines.append(f"{self.converted_to_grey:,} colour images converted to grey")
        if self.resized:
            lines.append(f"{self.resized:,} images resized to {IMAGE_SIZE}x{IMAGE_SIZE}")
        lines += [f"skipped {item_id}: {reason}" for item_id, reason in self.skipped[:10]]
        if len(self.skipped) > 10:
            lines.append(f"... and {len(self.skipped) - 10:,} more skipped")
        if self.ignored_files:
            lines.append(f"{len(self.ignored_files):,} non-image files ignored")
        lines += [f"class folder {folder} holds no images" for folder in self.empty_class_folders]
        return lines + [f"not followed: {link} links outside the data folder"
                        for link in self.outside_links]


def decode_image(path: str | Path) -> tuple[np.ndarray, bool, bool]:
    """One image file as 48x48 uint8 grey, and (converted, resized) flags; a ``ValueError``
    with a short reason (a "skipped" entry) for anything unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                converted = img.mode != "L"
                if img.format == "JPEG" and max(img.size) > 2 * IMAGE_SIZE:
                    img.draft("L", (IMAGE_SIZE, IMAGE_SIZE))  # decode big JPEGs at reduced size
                img.load()
                grey = _deep_to_grey(img) if img.mode in _DEEP_MODES else to_grey(img)
                return resize_48(grey), converted, grey.shape != (IMAGE_SIZE, IMAGE_SIZE)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(
            f"too many pixels, refused as a possible decompression bomb ({err})"
        ) from None
    except UnidentifiedImageError:
        raise ValueError("not an image Pillow can read") from None
    except (OSError, SyntaxError, EOFError) as err:
        raise ValueError(f"corrupt or truncated image ({err})") from None


def _deep_to_grey(img: Image.Image) -> np.ndarray:
    """16/32-bit grey: scale the used range to 0-255 instead of clipping to white."""
    raw = np.asarray(img, dtype=np.float32)
    top = 65535.0 if img.mode.startswith("I;16") else max(float(raw.max()), 1.0)
    return np.clip(raw / top * 255.0, 0, 255).astype(np.uint8)


def parse_pixels(text: str) -> np.ndarray:
    """Parse one ``pixels`` cell of fer2013.csv; raise ``ValueError`` with what was wrong."""
    parts = text.split()
    if len(parts) != PIXELS_PER_IMAGE:
        raise ValueError(
            f"pixels must hold {PIXELS_PER_IMAGE} numbers ({IMAGE_SIZE}x{IMAGE_SIZE}); "
            f"got {len(parts)}. Check the CSV was not truncated")
    try:
        values = np.array(parts, dtype=np.int64)
    except (ValueError, OverflowError):
        raise ValueError("pixels must be whole numbers 0-255 separated by spaces") from None
    if values.min() < 0 or values.max() > 255:
        raise ValueError("pixels must be whole numbers between 0 and 255")
    return values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


def decode_index(kind: str, index: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, LoadReport]:
    """Decode every row of an index; return the images, the rows kept and the report."""
    report = LoadReport(n_listed=len(index))
    images = np.empty((len(index), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    keep = np.zeros(len(index), dtype=bool)
    labels = index["label"].to_numpy(dtype=object).copy()
    for i, (item_id, label, source) in enumerate(index[["id", "label", "source"]].to_numpy()):
        try:
            if kind == "csv":
                labels[i] = _csv_label(label)
                images[i] = parse_pixels(source)
            else:
                images[i], converted, resized = decode_image(source)
                report.converted_to_grey += converted
                report.resized += resized
        except ValueError as err:
            report.skipped.append((item_id, str(err)))
            continue
        keep[i] = True
    kept = index.loc[keep].copy()
    kept["label"] = labels[keep]
    if kind == "csv":
        kept["source"] = kept["id"]  # the pixel strings are in the array now
    kept = kept.reset_index(drop=True)
    report.n_loaded = int(keep.sum())
    return images[keep], kept, report


def _csv_label(code: str) -> str:
    try:
        return FER2013_CSV_CODES[int(code)]
    except (ValueError, KeyError):
        raise ValueError(
            f"emotion must be a code 0-6 (0 Angry ... 6 Neutral); got {code!r}"
        ) from None


# --- the on-disk cache ------------------------------------------------------------------------- -

def cache_path(cache_root: Path, fingerprint: str) -> Path:
    return cache_root / "arrays" / f"v{CACHE_FORMAT}-{fingerprint}.npz"


def read_cache(path: Path) -> tuple[np.ndarray, pd.DataFrame, LoadReport] | None:
    """Return the cached array, index and report, or ``None`` if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = npz["images"]
            columns = [n.removeprefix("index_") for n in npz.files if n.startswith("index_")]
            index = pd.DataFrame({col: npz[f"index_{col}"] for col in columns})
            report = LoadReport(**json.loads(str(npz["report"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged cache is rebuilt, never trusted
    report.skipped = [tuple(item) for item in report.skipped]
    report.from_cache = True
    return images, index, report


def write_cache(path: Path, images: np.ndarray, index: pd.DataFrame, report: LoadReport) -> None:
    """Write atomically (temp file + rename): a reader never sees half a cache."""
    columns = {f"index_{col}": index[col].to_numpy(dtype=str) for col in index.columns}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, images=images, report=json.dumps(asdict(report)), **columns)
