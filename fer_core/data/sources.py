"""Turn what the user pointed at (Kaggle folders, ``fer2013.csv``, a ``.zip`` of either) into
one index, a row per image. Indexing only lists files, so a wrong layout is reported in a
fraction of a second, before ``loading.py`` decodes anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fer_core.core import atomic
from fer_core.core.emotions import EMOTIONS
from fer_core.core.errors import DataError
from fer_core.data.classnames import (
    SPLIT_NAMES,
    check_class_count,
    class_name,
    is_ignored_folder,
    is_split_name,
)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# How the challenge CSV's ``Usage`` maps to splits: both test halves are test, as in the
# Kaggle folders. The original value is kept in the index's ``usage`` column.
CSV_USAGE_SPLITS = {"training": "train", "publictest": "test", "privatetest": "test"}

EXPECTED_LAYOUT = (
    "Expected a folder laid out like the Kaggle FER-2013 download (ROOT/train/<class>/*.jpg and "
    "ROOT/test/<class>/*.jpg, or ROOT/<class>/*.jpg), the challenge file fer2013.csv, or a .zip "
    f"of either. Each class folder is a class: {', '.join(EMOTIONS)} (or synonyms such as "
    "happiness, sadness, surprised) or any other name (contempt, pain), 2 to 50 classes.")

# Zip-bomb guards: FER-2013 unpacks to about 60 MB, so these leave ample room for larger sets.
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_FILES = 500_000
MAX_ZIP_RATIO = 200  # uncompressed / compressed size of one entry


@dataclass(frozen=True)
class SourceIndex:
    """What a source holds, before any pixel is decoded."""

    kind: str  # "folders" or "csv"
    root: Path  # the folder or CSV file the index was built from
    index: pd.DataFrame  # id, split, label, source (+ usage for CSV)
    fingerprint: str  # changes whenever a file is added, removed or modified
    ignored: tuple[str, ...] = ()  # files listed but not images (by extension), relative ids
    empty_class_folders: tuple[str, ...] = ()
    outside_links: tuple[str, ...] = ()  # symlinks pointing outside the data folder, never followed


def index_source(path: Path, *, cache_root: Path) -> SourceIndex:
    """Index a folder, a CSV or a zip (extracted under ``cache_root``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"Data path {str(path)!r} does not exist. {EXPECTED_LAYOUT}")
    if path.is_file() and path.suffix.lower() == ".zip":
        path = extract_zip(path, cache_root / "extracted")
    root = find_data_root(path)
    return index_csv(root) if root.is_file() else index_folders(root)


def find_data_root(path: Path) -> Path:
    """The folder (or CSV) holding the data, through lone wrapper folders (``archive/...``)."""
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return path
        raise DataError(f"{path.name!r} is not a data set. {EXPECTED_LAYOUT}")
    current = path
    for _ in range(3):
        children = [c for c in current.iterdir() if not is_ignored_folder(c.name)]
        dirs = [c for c in children if c.is_dir()]
        if any(is_split_name(d.name) for d in dirs) or _has_images(dirs):
            return current
        csvs = sorted(c for c in children if c.is_file() and c.suffix.lower() == ".csv")
        if csvs:
            preferred = [c for c in csvs if c.name.lower() == "fer2013.csv"]
            return (preferred or csvs)[0]
        if len(dirs) != 1:
            break
        current = dirs[0]
    found = ", ".join(sorted(c.name for c in path.iterdir())[:10]) or "nothing"
    raise DataError(f"No data set found in {str(path)!r} (it holds: {found}). {EXPECTED_LAYOUT}")


def _has_images(dirs: list[Path]) -> bool:
    """Folders holding images are class folders (whatever their names), not wrappers; a lone
    one then gets the class count's error rather than "no data set found"."""
    return any(Path(e.name).suffix.lower() in IMAGE_EXTENSIONS
               for d in dirs for e in os.scandir(d) if e.is_file())


def index_folders(root: Path) -> SourceIndex:
    """Index the Kaggle layout: every class folder is a class (``classnames.class_name``)."""
    root = root.resolve()
    rows: list[tuple[str, str, str, str]] = []
    ignored: list[str] = []
    empty: list[str] = []
    outside: list[str] = []
    labels: set[str] = set()
    digest = hashlib.sha1(str(root).encode())
    for split, split_dir in _split_folders(root):
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            rel_dir = class_dir.relative_to(root).as_posix()
            try:
                label = class_name(class_dir.name)
            except DataError as err:  # a near-miss of an emotion name, with its suggestion
                raise DataError(f"In {rel_dir}: {err} {EXPECTED_LAYOUT}") from None
            if label is None:
                continue
            labels.add(label)
            n_before = len(rows)
            for entry in sorted(os.scandir(class_dir), key=lambda e: e.name):
                rel = f"{rel_dir}/{entry.name}"
                if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(root):
                    outside.append(rel)
                    continue
                if not entry.is_file():
                    continue
                if Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
                    ignored.append(rel)
                    continue
                stat = entry.stat()
                digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
                rows.append((rel, split, label, entry.path))
            if len(rows) == n_before:
                empty.append(rel_dir)
    if not rows:
        raise DataError(f"No images found under {str(root)!r}. {EXPECTED_LAYOUT}")
    check_class_count(sorted(labels), f"{root.name} (its class folders)")
    index = pd.DataFrame(rows, columns=["id", "split", "label", "source"])
    return SourceIndex(kind="folders", root=root, index=index, fingerprint=digest.hexdigest(),
                       ignored=tuple(ignored), empty_class_folders=tuple(empty),
                       outside_links=tuple(outside))


def _split_folders(root: Path) -> list[tuple[str, Path]]:
    """The (split, folder) pairs under root; a root of class folders is all ``train``."""
    children = sorted(p for p in root.iterdir() if p.is_dir())
    pairs = [(SPLIT_NAMES.get(child.name.strip().lower()), child) for child in children]
    return [(split, child) for split, child in pairs if split] or [("train", root)]


def index_csv(csv_path: Path) -> SourceIndex:
    """Index the challenge CSV. Pixel strings are parsed later, with the images."""
    csv_path = csv_path.resolve()
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(
            f"{csv_path.name} could not be read as CSV: {err}. {EXPECTED_LAYOUT}"
        ) from err
    columns = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in ("emotion", "pixels") if c not in columns]
    if missing:
        raise DataError(
            f"{csv_path.name} must have the columns emotion, pixels (and optionally Usage); "
            f"it is missing {', '.join(missing)} (it has: {', '.join(frame.columns)}).")
    if frame.empty:
        raise DataError(f"{csv_path.name} has no rows. {EXPECTED_LAYOUT}")
    usage = frame[columns["usage"]] if "usage" in columns else pd.Series("Training", frame.index)
    split = usage.str.strip().str.lower().map(CSV_USAGE_SPLITS).fillna("train")
    index = pd.DataFrame(
        {
            "id": [f"{csv_path.name}:{i + 2}" for i in range(len(frame))],  # 1-based, after header
            "split": split.to_numpy(),
            "label": frame[columns["emotion"]].str.strip().to_numpy(),  # a code until parsed
            "source": frame[columns["pixels"]].to_numpy(),
            "usage": usage.to_numpy(),
        }
    )
    return SourceIndex(kind="csv", root=csv_path, index=index, fingerprint=_file_key(csv_path))


def _file_key(path: Path) -> str:
    """A digest of a file's full path, size and modification time: changes when it does."""
    stat = path.stat()
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha1(key.encode()).hexdigest()


def extract_zip(zip_path: Path, target_root: Path) -> Path:
    """Extract once into ``target_root/<fingerprint>``, every entry checked before writing."""
    final = target_root / _file_key(zip_path)[:16]
    if final.is_dir():
        return final
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as err:
        raise DataError(f"{zip_path.name} is not a valid zip file: {err}.") from err
    with archive:
        members = _checked_members(archive, zip_path.name)
        with staged_dir(final, ".extract-") as staging:
            for info in members:
                _extract_member(archive, info, staging)
    return final


@contextmanager
def staged_dir(final: Path, prefix: str) -> Iterator[Path]:
    """Yield a temporary folder beside ``final`` that becomes ``final`` if the block succeeds,
    so no half-filled ``final`` is ever trusted; when another process won, its copy is kept."""
    staging = atomic.temp_dir(final.parent, prefix)
    try:
        yield staging
        try:
            os.replace(staging, final)
        except OSError:
            if not final.is_dir():  # not a lost race: a real error (permissions, disk)
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _checked_members(archive: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_ZIP_FILES:
        raise DataError(
            f"{name} holds {len(members):,} entries; at most {MAX_ZIP_FILES:,} are allowed.")
    total = 0
    for info in members:
        parts = Path(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise DataError(
                f"{name} has an unsafe entry {info.filename!r} (absolute or with '..'); "
                "refusing to extract it. Re-create the zip from the data folder itself.")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DataError(f"{name} has a symbolic link entry {info.filename!r}; refusing it.")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > MAX_ZIP_BYTES or (info.file_size > 1024**2 and ratio > MAX_ZIP_RATIO):
            raise DataError(
                f"{name} would unpack to more than {MAX_ZIP_BYTES // 1024**3} GB or has an entry "
                f"compressed {ratio:.0f}x ({info.filename!r}); it looks like a zip bomb.")
    return members


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, staging: Path) -> None:
    """Copy one entry, counting bytes so a lying header cannot exceed the declared size."""
    destination = staging / info.filename
    if not destination.resolve().is_relative_to(staging.resolve()):
        raise DataError(f"Zip entry {info.filename!r} would land outside the target folder.")
    if info.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as src, open(destination, "wb") as dst:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > info.file_size:
                raise DataError(f"Zip entry {info.filename!r} is larger than it declares.")
            dst.write(chunk)
