"""Export a run's model for deployment (``python -m fer_core export RUN_DIR``), and prove that
each export agrees with it: every format is written from a float32 rebuild (``convert``),
scored on test images in its own runtime (``runtimes``) against the Keras model and judged
against its targets (``parity``), and shipped with what it needs to give the app's answers
(``bundle``) and the run's model card.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import runs
from fer_core.core import atomic
from fer_core.core.access import ensure_may_write, ensure_writable
from fer_core.core.errors import ExportError
from fer_core.export import bundle, convert, parity, runtimes

FORMATS = ("savedmodel", "onnx", "tflite", "tflite-int8")
RESCORE_IMAGES = 1000
CHECK_IMAGES = 3_000  # validation images int8 must agree on (500 left it to chance: 0.2% each)
Progress = Callable[[float, str], None]

__all__ = ["FORMATS", "ExportError", "export_run", "formats_of", "read_export", "zip_export"]


def formats_of(choice: str) -> list[str]:
    """``all`` or one format name, as the command line and the page offer them."""
    if choice == "all":
        return list(FORMATS)
    if choice not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)} or all; got {choice!r}.")
    return [choice]


def default_out(run_dir: Path) -> Path:
    return runs.files(Path(run_dir)).export


def read_export(out_dir: Path) -> list[dict[str, Any]]:
    """The entries of an ``export.json`` (empty when there is none or it is damaged)."""
    try:
        data = json.loads((Path(out_dir) / "export.json").read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def export_run(run_dir: Path, formats: list[str], *, out_dir: Path | None = None,
               limit: int = RESCORE_IMAGES, progress: Progress | None = None,
               ) -> list[dict[str, Any]]:
    """Write ``formats`` of the run's model into ``out_dir`` (default: the run's ``export/``)
    and return the ``export.json`` entries; every format exported before stays listed."""
    from fer_core.inference.evaluation import load_run_model, run_split
    from fer_core.reports.card import write_card

    run_dir = Path(run_dir)
    if out_dir is None:  # into the run folder, which a read-only viewer must leave alone
        ensure_writable("Exporting into a run folder")
    out = Path(out_dir) if out_dir is not None else default_out(run_dir)
    ensure_may_write(out / "export.json")  # an explicit folder inside a run, before the work
    report = progress or (lambda fraction, message: None)
    steps = len(formats) * 2 + 2
    report(0.0, "Loading the model and the test images")
    model = load_run_model(run_dir)  # float32, as the app computes
    test, classes = run_split(run_dir, "test")
    images, labels = _sample(test.images, test.labels, limit)
    reference = model.predict(images[..., None].astype(np.float32), batch_size=256, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    entries = {entry["format"]: entry for entry in read_export(out) if entry.get("format")}
    for k, fmt in enumerate(formats):
        target = out / bundle.MODEL_FILES[fmt]
        report((1 + 2 * k) / steps, f"Writing {fmt}")
        float_layers = _write(fmt, model, target, run_dir)
        report((2 + 2 * k) / steps, f"Scoring {fmt} on {len(images):,} test images")
        entry = parity.score(fmt, target, runtimes.load(fmt, target), images, labels, reference)
        if fmt == "tflite-int8":
            entry["float_layers"] = float_layers
        entries[fmt] = entry
    float_bytes = _float_bytes(out, model)
    judged = [parity.judge(entries[f], float_bytes=float_bytes if f == "tflite-int8" else None)
              for f in FORMATS if f in entries]
    report((steps - 1) / steps, "Writing labels, preprocessing, snippets and the model card")
    bundle.write_bundle(out, run_dir, list(classes), [e["format"] for e in judged])
    write_card(run_dir, extra_target=out / runs.files(run_dir).model_card.name)
    atomic.write_text(out / "export.json", json.dumps(judged, indent=2) + "\n")
    report(1.0, "Done")
    return judged


def _sample(images: np.ndarray, labels: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` test images, spread evenly over the split (deterministic)."""
    if len(images) <= limit:
        return images, labels
    keep = np.linspace(0, len(images) - 1, limit).round().astype(int)
    return images[keep], labels[keep]


def _write(fmt: str, model: Any, target: Path, run_dir: Path) -> list[str]:
    """Write one format; for int8, the layers it kept in float (none for the others)."""
    if target.is_dir():
        shutil.rmtree(target)
    if fmt == "tflite-int8":
        return convert.write_tflite_int8(model, target, _representative(run_dir),
                                         _agreement_check(run_dir))
    convert.write_keras_export(model, fmt, target)
    return []


def _representative(run_dir: Path) -> np.ndarray:
    """The int8 converter's calibration images: a seeded sample of the run's train split."""
    from fer_core.inference.evaluation import run_split

    train, _ = run_split(run_dir, "train")
    rng = np.random.default_rng(0)
    count = min(convert.REPRESENTATIVE_IMAGES, len(train.images))
    return train.images[np.sort(rng.choice(len(train.images), count, replace=False))]


def _agreement_check(run_dir: Path) -> np.ndarray:
    """Where int8 must agree with Keras before it is written: validation images (the test
    split is what its agreement is then measured on, so it must not choose the layers)."""
    from fer_core.inference.evaluation import run_split

    val, _ = run_split(run_dir, "val")
    if not len(val.images):  # a run trained without validation: full int8, unchecked
        return val.images
    return _sample(val.images, val.labels, CHECK_IMAGES)[0]


def _float_bytes(out: Path, model: Any) -> int:
    """What int8 is measured against: the float LiteRT file, or the float32 weights' bytes
    when that file was not exported."""
    float_file = out / bundle.MODEL_FILES["tflite"]
    return float_file.stat().st_size if float_file.is_file() else int(model.count_params() * 4)


def zip_export(out_dir: Path) -> bytes:
    """The export folder as a zip (everything under ``<folder name>/``), for a download."""
    import io
    import zipfile

    out_dir = Path(out_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and not p.is_symlink()):
            archive.write(path, f"{out_dir.name}/{path.relative_to(out_dir).as_posix()}")
    return buffer.getvalue()
