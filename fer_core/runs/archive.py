"""Run folders as zip files: export one to send it, import one that was sent. Importing is
where care is needed, because the zip comes from someone else:

- no entry may land outside the new run folder (unsafe paths and links are refused, not
  "cleaned"), and the unpacked size and entries are capped (``zipfile`` never inflates an
  entry past its declared size, so a zip bomb is refused up front);
- the run must have ended (the local queue would train a queued one);
- the folder appears in one rename, so the runs list never sees it half-written.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from fer_core import runs
from fer_core.core.access import ensure_writable
from fer_core.core.errors import RunError


class RunExistsError(RunError):
    """The run being imported is already in the runs folder."""

MAX_IMPORT_BYTES = 4 * 1024**3  # unpacked; the largest backbones' model.keras is ~200 MB
MAX_ENTRIES = 10_000
MAX_JSON_BYTES = 16 * 1024**2
REQUIRED = runs.RunFiles.REQUIRED
IGNORED_PREFIXES = ("__MACOSX/",)  # what macOS' Finder adds to every zip it makes
FALLBACK_ID = "imported-run"


# --- export --------------------------------------------------------------------------------------

def export_run_zip(run_dir: Path, *, card: Callable[[Path], str] | None = None) -> bytes:
    """The run folder as a zip whose entries sit under ``<run-id>/``, without hidden files
    (the atomic writer's) or links; ``card`` writes the model card of a run trained before
    cards (the reports know its text), so the zip carries one anyway."""
    run_dir = Path(run_dir)
    if not runs.files(run_dir).config.is_file():
        raise RunError(f"{run_dir} is not a run folder (no config.json); nothing to export.")
    buffer = io.BytesIO()
    # Derived and large: export again, or compute the features again, after import.
    derived = (runs.files(run_dir).export.name, runs.files(run_dir).features.name)
    try:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for path in sorted(run_dir.rglob("*")):
                relative = path.relative_to(run_dir)
                if (path.is_symlink() or not path.is_file() or relative.parts[0] in derived
                        or any(part.startswith(".") for part in relative.parts)):
                    continue
                stored = path.suffix in (".keras", ".zip", ".png", ".jpg")
                archive.write(path, f"{run_dir.name}/{relative.as_posix()}",
                              compress_type=zipfile.ZIP_STORED if stored else None)
            card_file = runs.files(run_dir).model_card
            if card is not None and not card_file.is_file():
                archive.writestr(f"{run_dir.name}/{card_file.name}", card(run_dir))
    except FileNotFoundError as err:
        raise RunError(f"Run {run_dir.name} changed while it was being zipped ({err.filename} "
                       "disappeared); try again.") from err
    return buffer.getvalue()


# --- import --------------------------------------------------------------------------------------

def import_run_zip(data: bytes, runs_root: Path, *, max_bytes: int = MAX_IMPORT_BYTES,
                   name_hint: str | None = None) -> Path:
    """Unpack an exported run zip into ``runs_root``; return the new run folder. ``name_hint``
    (the upload's file name) names a run whose files sit at the zip's top."""
    ensure_writable("Importing a run")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as err:
        raise RunError("The upload is not a zip file; export a run from the Results page and "
                       "import that .zip.") from err
    with archive:
        top, members = _run_members(archive, max_bytes=max_bytes)
        check_run_files(archive, members)
        base = sanitise_id(top or (Path(name_hint).stem if name_hint else FALLBACK_ID))
        _refuse_if_present(archive, members, Path(runs_root), base)
        return _extract(archive, members, Path(runs_root), base)


def _refuse_if_present(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                       runs_root: Path, run_id: str) -> None:
    """The same run (config.json byte for byte) already there is refused rather than copied
    again as ``<id>-2``; a different run of the same id is imported under a free id."""
    present = runs_root / run_id
    try:
        same = present.is_dir() and (runs.files(present).config.read_bytes()
                                     == archive.read(members["config.json"]))
    except OSError:
        same = False
    if same:
        raise RunExistsError(f"Run {run_id} is already in the runs folder ({present}); nothing "
                             "was imported. Delete it first to import it again.")


def _run_members(archive: zipfile.ZipFile, *,
                 max_bytes: int) -> tuple[str | None, dict[str, zipfile.ZipInfo]]:
    """The zip's files keyed by their path inside the run folder, after every safety check."""
    infos = [i for i in archive.infolist() if not i.filename.startswith(IGNORED_PREFIXES)]
    if len(infos) > MAX_ENTRIES:
        raise RunError(f"The zip holds {len(infos):,} entries; a run folder has a handful "
                       f"(at most {MAX_ENTRIES:,} accepted).")
    files = [(PurePosixPath(*parts), info) for info in infos
             if (parts := safe_parts(info)) and not info.is_dir()]
    total = sum(info.file_size for _, info in files)
    if total > max_bytes:
        raise RunError(f"The zip unpacks to {total / 1024**2:,.0f} MB, more than the "
                       f"{max_bytes / 1024**2:,.0f} MB accepted for one run.")
    top = None
    if files and not any(len(p.parts) == 1 and p.name in REQUIRED for p, _ in files):
        firsts = {p.parts[0] for p, _ in files}
        if len(firsts) != 1 or any(len(p.parts) < 2 for p, _ in files):
            raise RunError("The zip is not a FER Studio run: it should hold one run folder (with "
                           f"{' and '.join(REQUIRED)}); it holds {', '.join(sorted(firsts)[:5])}.")
        top = firsts.pop()
        files = [(PurePosixPath(*p.parts[1:]), info) for p, info in files]
    members: dict[str, zipfile.ZipInfo] = {}
    for path, info in files:
        if path.as_posix() in members:
            raise RunError(f"The zip holds {path} twice; export the run again.")
        members[path.as_posix()] = info
    return top, members


def safe_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """An entry's path parts, or a refusal when it could land outside the run folder."""
    name, parts = info.filename, info.filename.split("/")
    if ("\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts
            or "\x00" in name or stat.S_ISLNK(info.external_attr >> 16)):
        raise RunError(f"The zip entry {name!r} points outside the run folder or is a link; "
                       "the zip was refused.")
    return tuple(part for part in parts if part not in ("", "."))


def check_run_files(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> None:
    if missing := [name for name in REQUIRED if name not in members]:
        if "preprocessing.json" in members:  # what a model export carries beside the model
            raise RunError("The zip is a model export (ONNX, TFLite or SavedModel, for use "
                           "elsewhere), not a run folder. Import a run's zip: Results, Share "
                           "tab, **Run folder (.zip)**.")
        raise RunError(f"The zip is not a FER Studio run: {' and '.join(missing)} "
                       "missing. Download the run's zip from Results, Share tab.")
    config, status = (read_json(archive, members[name]) for name in REQUIRED)
    if not runs.RunRecord.from_json(config).config:
        raise RunError("The zip's config.json is not a FER Studio run config (no \"config\").")
    state = runs.Status.from_json(status).state
    if state not in runs.FINAL_STATES:
        raise RunError(f"The run in the zip is {state or 'of unknown state'}; only finished "
                       "runs (succeeded, failed or cancelled) can be imported.")


def read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    if info.file_size > MAX_JSON_BYTES:
        raise RunError(f"The zip's {info.filename} is too large to be a run's JSON file.")
    try:
        value = json.loads(archive.read(info))
    except (ValueError, zipfile.BadZipFile, OSError) as err:
        raise RunError(f"The zip's {info.filename} cannot be read ({err}).") from err
    if not isinstance(value, dict):
        raise RunError(f"The zip's {info.filename} does not hold a JSON object.")
    return value


def sanitise_id(name: str) -> str:
    """A run id made of the characters ``runs.run_path`` accepts, never ``..``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    slug = re.sub(r"\.{2,}", ".", slug).strip(".-_")[:100]
    return slug or FALLBACK_ID


def _extract(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], runs_root: Path,
             base: str) -> Path:
    """Unpack into a hidden folder, then rename it into place under a free id."""
    runs_root.mkdir(parents=True, exist_ok=True)
    staging = runs_root / f".import-{uuid.uuid4().hex}"
    try:
        for relative, info in members.items():
            target = staging.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)
        run_id, n = base, 2
        while True:
            final = runs.run_path(run_id, runs_root=runs_root)
            if not final.exists():
                try:
                    os.rename(staging, final)
                    return final
                except OSError:
                    if not final.exists():
                        raise
            run_id, n = f"{base}-{n}", n + 1
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise RunError(f"The zip could not be unpacked ({err}); export the run again.") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
