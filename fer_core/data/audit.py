"""Image quality and duplicate checks: what a data set holds besides faces.

FER-2013 carries all-black frames, "photo removed" placeholders and many copies of the same
picture, some split between train and test, where test accuracy then measures memory rather
than recognition. On the full FER-2013 the audit takes about 2 s on two CPU cores, most of it
the pairwise near-duplicate search, and needs under 100 MB beyond the images.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from fer_core.core.errors import DataError

# An image whose pixel standard deviation is below this holds no face. On FER-2013 the
# contrast of real images starts at 9.1 (a very dark face that is still recognisable), while
# the blank ones are all-black frames (0.0), a flat grey frame (0.6) and a black frame with one
# bright speck (4.1). 6 sits in the middle of that gap, with margin on both sides.
BLANK_MAX_CONTRAST = 6.0

# pHash bits that may differ for two images to count as near duplicates. Spot checks on
# FER-2013: at 4 bits nearly every pair is one photo shifted, re-cropped or re-compressed (a few
# of the least similar are two people in the same pose); at 6 about 1 pair in 10 is two
# different faces, at 8 one in 3. Distances come out even (the median splits the 64
# coefficients 32/32, so a hash has 32 bits set unless there are ties), so 5 finds what 4 finds.
NEAR_MAX_DISTANCE = 4

_HASH_SIZE = 8  # 8 x 8 low DCT frequencies -> 64 bits
_HASH_SOURCE = 32  # the image is resampled to 32 x 32 before the DCT, as imagehash does
_CHUNK_PIXELS = 1 << 22  # pixels per chunk in the per-image passes: ~65 MB float temporaries
_CHUNK_PAIRS = 1 << 23  # hash pairs per chunk in the pairwise search: ~75 MB of temporaries
_TEST_SPLIT = "test"


# --- per-image checks ------------------------------------------------------------------------

def perceptual_hashes(images: np.ndarray) -> np.ndarray:
    """64-bit perceptual hash of every image, as uint64: ``imagehash.phash``'s algorithm and
    bit order, so ``int(str(imagehash.phash(img)), 16)`` is the same number.

    In numpy because resample-then-DCT is linear (a matrix on each side): ~0.1 s for FER-2013,
    not ~2.2 s. Unlike Pillow this does not round to uint8, so 7% of hashes differ from
    imagehash's, nearly all by 2 bits: inside the near-duplicate distance.
    """
    images = _check_images(images)
    n, height, width = images.shape
    hashes = np.empty(n, dtype=np.uint64)
    if n == 0:
        return hashes
    rows, cols = _phash_matrix(height), _phash_matrix(width)
    for start, stop in _chunks(n, _CHUNK_PIXELS // (height * width)):
        low = rows @ images[start:stop].astype(np.float32) @ cols.T  # (n, 8, 8)
        low = low.reshape(stop - start, _HASH_SIZE * _HASH_SIZE)
        bits = low > np.median(low, axis=1, keepdims=True)
        hashes[start:stop] = np.packbits(bits, axis=1).view(">u8").ravel()
    return hashes


# --- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditReport:
    """Findings of :func:`audit`, by the index's ids. Blank images are left out of the near
    duplicates (their hash is rounding noise) and of the leakage pairs (no face to memorise).
    """

    stats: pd.DataFrame  # one row per image: id, split, label, brightness, contrast
    blank_ids: list[str]  # contrast below max_contrast
    exact_duplicate_groups: list[list[str]]  # identical pixels, any splits; largest first
    near_duplicate_pairs: list[tuple[str, str, int]]  # (id, id, pHash distance)
    leakage_pairs: list[tuple[str, str]]  # (train or val id, test id), exact or near copies
    max_distance: int = NEAR_MAX_DISTANCE
    max_contrast: float = BLANK_MAX_CONTRAST

    @functools.cached_property
    def _labels(self) -> dict[str, str]:
        return dict(zip(self.stats["id"], self.stats["label"], strict=True))

    @property
    def n_redundant_copies(self) -> int:
        """Images that could be dropped while keeping one of each exact group."""
        return sum(len(group) - 1 for group in self.exact_duplicate_groups)

    @functools.cached_property
    def conflicting_groups(self) -> list[list[str]]:
        """Exact-duplicate groups whose copies carry more than one label."""
        groups = self.exact_duplicate_groups
        return [group for group in groups if len({self._labels[i] for i in group}) > 1]

    @property
    def leaked_test_ids(self) -> list[str]:
        """Test images with an exact or near copy in train or val."""
        return sorted({test_id for _, test_id in self.leakage_pairs})

    def to_dict(self, max_examples: int = 20) -> dict[str, Any]:
        """Counts and up to ``max_examples`` example ids per finding, ready for ``json.dumps``."""
        k = max(0, max_examples)
        splits = Counter(self.stats["split"].astype(str))
        conflicts = self.conflicting_groups
        leaked = self.leaked_test_ids
        return {
            "n_images": len(self.stats),
            "splits": {name: int(count) for name, count in sorted(splits.items())},
            "blank": {
                "count": len(self.blank_ids),
                "max_contrast": float(self.max_contrast),
                "examples": list(self.blank_ids[:k]),
            },
            "exact_duplicates": {
                "groups": len(self.exact_duplicate_groups),
                "images": sum(len(group) for group in self.exact_duplicate_groups),
                "redundant_copies": self.n_redundant_copies,
                "groups_with_conflicting_labels": len(conflicts),
                "examples": [list(group[:k]) for group in self.exact_duplicate_groups[:k]],
                "conflict_examples": [
                    {"ids": list(group[:k]), "labels": sorted({self._labels[i] for i in group})}
                    for group in conflicts[:k]
                ],
            },
            "near_duplicates": {
                "pairs": len(self.near_duplicate_pairs),
                "max_distance": int(self.max_distance),
                "examples": [[a, b, int(d)] for a, b, d in self.near_duplicate_pairs[:k]],
            },
            "leakage": {
                "pairs": len(self.leakage_pairs),
                "test_images": len(leaked),
                "examples": [[a, b] for a, b in self.leakage_pairs[:k]],
            },
        }

    def summary(self) -> list[str]:
        """One plain-language line per finding, for a page or the command line."""
        n = len(self.stats)
        if n == 0:
            return ["No images to audit."]
        splits = Counter(self.stats["split"].astype(str))
        per_split = ", ".join(f"{name} {count:,}" for name, count in sorted(splits.items()))
        lines = [f"{n:,} images audited ({per_split})."]

        if self.blank_ids:
            lines.append(f"{len(self.blank_ids):,} near-blank images (contrast below "
                         f"{self.max_contrast:g}): drop them, they hold no face.")
        else:
            lines.append("No near-blank images.")

        groups = self.exact_duplicate_groups
        if groups:
            conflicts = len(self.conflicting_groups)
            line = (
                f"{len(groups):,} groups of identical images "
                f"({sum(len(g) for g in groups):,} images, {self.n_redundant_copies:,} "
                f"redundant copies; the largest has {len(groups[0])}).")
            if conflicts:
                line += f" {conflicts:,} of these groups carry conflicting labels."
            lines.append(line)
        else:
            lines.append("No identical images.")

        if self.near_duplicate_pairs:
            lines.append(f"{len(self.near_duplicate_pairs):,} near-duplicate pairs (pHash distance "
                         f"<= {self.max_distance}, pixels not identical).")
        else:
            lines.append(f"No near-duplicate pairs (pHash distance <= {self.max_distance}).")

        n_test = splits.get(_TEST_SPLIT, 0)
        leaked = len(self.leaked_test_ids)
        if leaked:
            lines.append(f"{leaked:,} of {n_test:,} test images ({leaked / n_test:.1%}) have an "
                         f"exact or near copy in train/val ({len(self.leakage_pairs):,} pairs): "
                         "test accuracy is optimistic unless they are removed.")
        elif n_test:
            lines.append("No test image has a copy in train/val.")
        return lines


def audit(images: np.ndarray, index: pd.DataFrame, *, max_distance: int = NEAR_MAX_DISTANCE,
          max_contrast: float = BLANK_MAX_CONTRAST,
          progress: Callable[[float], None] | None = None) -> AuditReport:
    """Check N grey images and their index (``id``, ``split``, ``label``, row for row) for
    blank images, duplicates and train/test leakage. ``progress`` gets the share of the
    pairwise search done (the slow part), so a page can show a bar instead of a spinner.
    """
    images = _check_images(images)
    _check_index(index, len(images))
    if not 0 <= max_distance <= 64:
        raise ValueError(f"max_distance must be between 0 and 64 bits; got {max_distance}.")

    ids, splits, labels = (index[col].astype(str).to_numpy() for col in ("id", "split", "label"))
    brightness, contrast = _mean_std(images)
    stats = pd.DataFrame({"id": ids, "split": splits, "label": labels,
                          "brightness": brightness, "contrast": contrast})
    blank = contrast < max_contrast

    group_of = _exact_group_ids(images)
    exact_groups = _groups(group_of)

    # Near duplicates among images that are not blank, the pairs inside an exact group
    # excluded (they are reported as that group).
    keep = np.flatnonzero(~blank)
    i, j, dist = _close_pairs(perceptual_hashes(images)[keep], max_distance, progress)
    i, j = keep[i], keep[j]
    not_exact = group_of[i] != group_of[j]
    i, j, dist = i[not_exact], j[not_exact], dist[not_exact]
    order = np.lexsort((j, i, dist))
    i, j, dist = i[order], j[order], dist[order]

    leakage = _leakage(exact_groups, i, j, splits, blank)
    near = zip(ids[i].tolist(), ids[j].tolist(), dist.tolist(), strict=True)
    return AuditReport(stats=stats, blank_ids=ids[blank].tolist(),
                       exact_duplicate_groups=[ids[g].tolist() for g in exact_groups],
                       near_duplicate_pairs=list(near),
                       leakage_pairs=[(str(ids[a]), str(ids[b])) for a, b in leakage],
                       max_distance=int(max_distance), max_contrast=float(max_contrast))


# --- helpers ---------------------------------------------------------------------------------

def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3:
        raise DataError("images must be an array of shape (N, height, width), greyscale; "
                        f"got shape {images.shape}. Convert colour images to grey first.")
    return images


def _check_index(index: pd.DataFrame, n: int) -> None:
    missing = [c for c in ("id", "split", "label") if c not in index.columns]
    if missing:
        raise DataError(f"index must have columns id, split and label; {', '.join(missing)} "
                        "missing. Pass the index of the loaded data set.")
    if len(index) != n:
        raise DataError(f"index must have one row per image ({n}); got {len(index)} rows. "
                        "Pass the images and the index of the same data set.")
    duplicated = index["id"][index["id"].duplicated()]
    if len(duplicated):
        raise DataError(f"index ids must be unique; {duplicated.iloc[0]!r} appears more than once. "
                        "Rebuild the index.")


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    size = max(1, size)
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _mean_std(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # In chunks: a float copy of all of FER-2013 at once would be 300-600 MB.
    n = len(images)
    mean, std = np.empty(n), np.empty(n)
    pixels = max(1, images.shape[1] * images.shape[2])
    for start, stop in _chunks(n, _CHUNK_PIXELS // pixels):
        x = images[start:stop].reshape(stop - start, -1).astype(np.float64)
        mean[start:stop] = x.mean(axis=1)
        std[start:stop] = x.std(axis=1)
    return mean, std


@functools.lru_cache(maxsize=8)
def _phash_matrix(size: int) -> np.ndarray:
    """The 8 x size matrix that resamples one axis to 32 and takes its 8 lowest DCT terms."""
    # Pillow's own Lanczos weights, read off by resampling an identity image along one axis.
    eye = Image.fromarray(np.eye(size, dtype=np.float32))
    resample = np.asarray(eye.resize((_HASH_SOURCE, size), Image.Resampling.LANCZOS)).T
    k = np.arange(_HASH_SIZE)[:, None]
    n = np.arange(_HASH_SOURCE)[None, :]
    dct = np.cos(np.pi * k * (2 * n + 1) / (2 * _HASH_SOURCE))  # DCT-II; scale is irrelevant
    return (dct @ resample).astype(np.float32)


def _exact_group_ids(images: np.ndarray) -> np.ndarray:
    """A group number per image; equal numbers mean byte-identical pixels."""
    # A 128-bit digest per image, then np.unique on those: sorting the raw rows instead would
    # copy all pixels twice (~210 MB for FER-2013); a digest collision is a 2**-128 event.
    n = len(images)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    flat = np.ascontiguousarray(images).reshape(n, -1)
    digests = b"".join(hashlib.blake2b(row, digest_size=16).digest() for row in flat)
    _, group_of = np.unique(np.frombuffer(digests, dtype="V16"), return_inverse=True)
    return group_of.ravel()


def _groups(group_of: np.ndarray) -> list[np.ndarray]:
    """Image indices of every group with more than one member; largest first."""
    order = np.argsort(group_of, kind="stable")
    bounds = np.flatnonzero(np.diff(group_of[order])) + 1
    groups = [g for g in np.split(order, bounds) if len(g) > 1]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def _close_pairs(hashes: np.ndarray, max_distance: int,
                 progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, ...]:
    """All pairs i < j whose hashes differ in at most ``max_distance`` bits, and the distance.

    Brute force, a block of rows at a time: 5e8 pairs in ~1.2 s for FER-2013. Multi-index
    hashing suffers from face hashes crowding together (a 13-bit band has buckets of 180
    images); brute force is exact and predictable. Revisit beyond a few hundred thousand images.
    """
    n = len(hashes)
    found = [(np.empty(0, np.intp),) * 3]  # (i, j, distance) per chunk
    for start, stop in _chunks(n, _CHUNK_PAIRS // max(n, 1)):
        dist = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, start:])
        i, j = np.nonzero(dist <= max_distance)
        upper = j > i  # j is relative to `start`, so this keeps each pair once and drops i == i
        i, j = i[upper], j[upper]
        found.append((i + start, j + start, dist[i, j].astype(np.intp)))
        if progress is not None:  # the rows left form a triangle: its share of the work
            progress(1.0 - ((n - stop) / n) ** 2)
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def _leakage(exact_groups: list[np.ndarray], near_i: np.ndarray, near_j: np.ndarray,
             splits: np.ndarray, blank: np.ndarray) -> list[tuple[int, int]]:
    """``(train/val index, test index)`` for every exact or near pair across the test line."""
    is_test = splits == _TEST_SPLIT
    pairs: set[tuple[int, int]] = set()
    for members in exact_groups:
        group = members[~blank[members]]
        tests, others = group[is_test[group]], group[~is_test[group]]
        pairs.update((int(a), int(b)) for a in others for b in tests)
    for a, b in zip(near_i, near_j, strict=True):
        if is_test[a] != is_test[b]:
            pairs.add((int(b), int(a)) if is_test[a] else (int(a), int(b)))
    return sorted(pairs)
