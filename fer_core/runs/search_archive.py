"""A search as one zip: its folder (plan, study, summary) and its trial runs, to send and to
import elsewhere, where Results' Search tab shows it as here. The zip holds
``<search-id>/search/...`` and ``<search-id>/runs/<run-id>/...``; importing applies a run
zip's safety rules (``archive``) to every entry, refuses a search already present, and keeps
the trials' run ids (the summary names them): a trial run already there with the same
``config.json`` is kept as it is, one that differs is refused.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from fer_core import runs
from fer_core.core.access import ensure_writable
from fer_core.core.errors import RunError
from fer_core.runs import archive, searches, task_folders

SEARCH, RUNS = "search", "runs"


def export_search_zip(task_dir: Path) -> bytes:
    """The search folder and its trial runs (their model files too, the best few's)."""
    task_dir = Path(task_dir)
    summary = searches.read_summary(task_dir)
    if summary is None:
        raise RunError(f"Search {task_dir.name} has no trial yet; nothing to export.")
    root = task_dir.parent.parent
    folders = [(task_dir, f"{task_dir.name}/{SEARCH}")]
    folders += [(root / t["run"], f"{task_dir.name}/{RUNS}/{t['run']}")
                for t in summary.get("trials", []) if t.get("run") and (root / t["run"]).is_dir()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zipped:
        for folder, prefix in folders:
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if (path.is_file() and not path.is_symlink()
                        and not any(part.startswith(".") for part in relative.parts)
                        and relative.parts[0] not in ("tensorboard", "backup")):
                    zipped.write(path, f"{prefix}/{relative.as_posix()}")
    return buffer.getvalue()


def is_search_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            return any(PurePosixPath(name).parts[1:] == (SEARCH, "task.json")
                       for name in zipped.namelist())
    except (zipfile.BadZipFile, ValueError):
        return False


def import_search_zip(data: bytes, runs_root: Path) -> Path:
    """Unpack a search zip into ``runs_root``; return the search's folder."""
    ensure_writable("Importing a search")
    runs_root = Path(runs_root)
    try:
        zipped = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as err:
        raise RunError("The upload is not a zip file.") from err
    with zipped:
        folders = _folders(zipped)
        search_id = next(iter(folders))[0]
        task = runs.run_path(search_id, runs_root=task_folders.root(runs_root))
        if task.exists():
            raise archive.RunExistsError(f"Search {search_id} is already here ({task}); nothing "
                                         "was imported.")
        staging = runs_root / f".import-{uuid.uuid4().hex}"
        try:
            places = {}
            for (_, part, run_id), members in folders.items():
                target = task if part == SEARCH else runs.run_path(run_id, runs_root=runs_root)
                if part == RUNS and _same_run_there(zipped, members, target):
                    continue
                _unpack(zipped, members, staging / part / run_id)
                places[staging / part / run_id] = target
            for source, target in sorted(places.items(), key=lambda kv: kv[1] == task):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(source, target)  # the search last: its trials are there when it shows
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return task


def _folders(zipped: zipfile.ZipFile) -> dict[tuple[str, str, str], dict[str, zipfile.ZipInfo]]:
    """``(search id, "search" or "runs", folder id) -> {path in folder: entry}``, checked."""
    found: dict[tuple[str, str, str], dict[str, zipfile.ZipInfo]] = {}
    infos = [i for i in zipped.infolist() if not i.is_dir()
             and not i.filename.startswith(archive.IGNORED_PREFIXES)]
    if len(infos) > archive.MAX_ENTRIES:
        raise RunError(f"The zip holds {len(infos):,} entries; too many for a search.")
    if sum(i.file_size for i in infos) > archive.MAX_IMPORT_BYTES:
        raise RunError("The zip unpacks to more than a search may hold.")
    for info in infos:
        parts = archive.safe_parts(info)
        if len(parts) >= 3 and parts[1] == SEARCH:
            key, inside = (parts[0], SEARCH, parts[0]), parts[2:]
        elif len(parts) >= 4 and parts[1] == RUNS:
            key, inside = (parts[0], RUNS, archive.sanitise_id(parts[2])), parts[3:]
        else:
            raise RunError(f"The zip is not a FER Studio search: {info.filename!r} is neither "
                           "in search/ nor in runs/.")
        found.setdefault(key, {})["/".join(inside)] = info
    ids = {key[0] for key in found}
    searches_found = [key for key in found if key[1] == SEARCH]
    if len(ids) != 1 or len(searches_found) != 1:
        raise RunError("The zip is not a FER Studio search: it should hold one search folder "
                       "and its trial runs.")
    record = archive.read_json(zipped, found[searches_found[0]].get("task.json")
                               or _missing("task.json"))
    if record.get("kind") != searches.KIND:
        raise RunError("The zip's search folder is not a search's (task.json names another kind).")
    status = runs.Status.from_json(archive.read_json(
        zipped, found[searches_found[0]].get("status.json") or _missing("status.json")))
    if status.state not in runs.FINAL_STATES:
        raise RunError(f"The search in the zip is {status.state or 'of unknown state'}; only a "
                       "search that ended can be imported.")
    for key, members in found.items():
        if key[1] == RUNS:
            archive.check_run_files(zipped, members)
    return dict(sorted(found.items(), key=lambda kv: kv[0][1] == SEARCH))


def _missing(name: str) -> zipfile.ZipInfo:
    raise RunError(f"The zip's search folder has no {name}.")


def _same_run_there(zipped: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                    target: Path) -> bool:
    if not target.exists():
        return False
    if runs.files(target).config.read_bytes() == zipped.read(members["config.json"]):
        return True
    raise RunError(f"A different run named {target.name} is already here; the search's trial "
                   "of that name was not imported, nor the search.")


def _unpack(zipped: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], folder: Path) -> None:
    for relative, info in members.items():
        target = folder.joinpath(*relative.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipped.open(info) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1024 * 1024)
