"""Shared fixtures: an isolated cache and runs folder, image writers, the real data set's path,
finished runs; and the guard that keeps the fast tier free of training.

Two tiers. ``pytest -m "not slow"`` (``make test-fast``) is the everyday one: it trains no
model, and reads finished runs committed under ``tests/fixtures/runs`` (``demo_run``,
``accurate_demo_records``). The ``slow`` tier trains, reads the real FER-2013 and drives a
browser; ``make test`` runs both. The two hooks below enforce the split.
"""

from __future__ import annotations

# First: AppTest runs the Predict page in this process, after tests have loaded TensorFlow, and
# pylibsrtp (aiortc, under streamlit_webrtc) segfaults when imported after TensorFlow.
import streamlit_webrtc  # noqa: F401  isort: skip

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fit_guard import sitecustomize as fit_guard
from tests.fixtures.make_runs import RECIPES, committed, train_run

REAL_FER2013 = Path(__file__).resolve().parents[2] / "shared" / "fer2013"
FIT_GUARD = Path(fit_guard.__file__).parent
TRAINING_FIXTURES = frozenset({"accurate_demo_run", "mixed_run", "bad_run"})


def pytest_configure(config: pytest.Config) -> None:
    fit_guard.install()


def _fast(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """A test not marked ``slow`` may not train: not here, not in a process it starts.

    ``keras.Model.fit``, the one way FER Studio trains, raises (``tests/fit_guard``) for the
    test's whole setup, call and teardown, fixtures included; the guard's folder goes on
    ``PYTHONPATH`` so the jobs and CLIs the test starts refuse too. Mark the test ``slow``
    when training is its point; otherwise let it read a committed run. (A switch in FER
    Studio's own code would be a test hook in the product; this needs none.)
    """
    fast, saved = _fast(item), os.environ.get("PYTHONPATH")
    if fast:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FIT_GUARD), saved]))
    fit_guard.refusing = fast
    try:
        return (yield)
    finally:
        fit_guard.refusing = True
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test not marked ``slow`` may not ask for a fixture that trains, even one that an
    earlier slow test has trained already: the fast tier alone would then fail on it."""
    trains = sorted(TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if _fast(item) and trains:
        pytest.fail(f"{item.nodeid} is not marked slow, yet asks for {', '.join(trains)}, "
                    "which train a model. Read a committed run (demo_run, "
                    "accurate_demo_records) or mark the test @pytest.mark.slow.", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point every FER Studio folder at a temporary one; use the demo data set by default.

    Session-wide, so the demo set is generated once for the whole test run.
    """
    base = tmp_path_factory.mktemp("fer-env")
    saved = {k: os.environ.get(k) for k in ("FER_CACHE_DIR", "FER_RUNS_DIR", "FER_DATA_DIR")}
    os.environ["FER_CACHE_DIR"] = str(base / "cache")
    os.environ["FER_RUNS_DIR"] = str(base / "runs")
    os.environ.pop("FER_DATA_DIR", None)
    # UMAP's machine code (numba) outlives the session, as it does for a user: compiled once
    # per machine rather than once per test worker.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "fer-studio-tests"
                                                 / "numba"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def clear_streamlit_caches() -> Iterator[None]:
    """Streamlit's caches outlive a test (streamlit#9139): each test starts from empty ones.

    Only where a test module imported Streamlit: the engine's tests never load it.
    """
    import sys

    streamlit = sys.modules.get("streamlit")
    if streamlit is not None:
        streamlit.cache_data.clear()
        streamlit.cache_resource.clear()
    yield


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own, for tests that count cache hits."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    return cache


def face_like(seed: int, size: int = 48) -> np.ndarray:
    """A textured grey image (not blank), different for each seed."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(size // 8, size // 8), dtype=np.uint8)
    return np.asarray(Image.fromarray(base).resize((size, size), Image.Resampling.BILINEAR))


def write_image(path: Path, seed: int = 0, *, size: int = 48, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(face_like(seed, size)).convert(mode).save(path)
    return path


def write_suspects(fingerprint: str, ranked_ids: list[str]) -> None:
    """A finished suspect-labels pass's suspects.csv for a data set, most suspect first, as
    the pass writes it (given sad, suggested happy), without training its models."""
    import pandas as pd

    from fer_core.tasks.suspects import csv_path

    csv_path(fingerprint).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"file": ranked_ids, "given": "sad", "suggested": "happy",
                  "self_confidence": 0.1, "rank": range(1, len(ranked_ids) + 1)}
                 ).to_csv(csv_path(fingerprint), index=False)


def make_kaggle_tree(
    root: Path, per_class: dict[str, int], *, splits: tuple[str, ...] = ("train", "test")
) -> Path:
    """A tiny Kaggle-layout data set: ROOT/<split>/<class>/<n>.png."""
    seed = 0
    for split in splits:
        for label, n in per_class.items():
            for i in range(n):
                seed += 1
                write_image(root / split / label / f"{i:03d}.png", seed)
    return root


@pytest.fixture
def env_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FER_DATA_DIR names a tiny folder (3 happy, 2 sad a split): never taken for the demo."""
    root = make_kaggle_tree(tmp_path / "env", {"happy": 3, "sad": 2})
    monkeypatch.setenv("FER_DATA_DIR", str(root))
    return root


@pytest.fixture
def real_fer2013() -> Path:
    if not (REAL_FER2013 / "train").is_dir():
        pytest.skip("the real FER-2013 is not present at ../shared/fer2013")
    return REAL_FER2013


def _copy_committed(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """This session's copy of committed run ``name``, trained on this session's demo data.

    A copy, so a test that writes into its run by mistake changes the copy, never the
    committed files. The demo is drawn from a fixed seed, so the session's demo images are
    the very ones the run trained on; but a data set's fingerprint also hashes its folder's
    path and file times, so the copy's data record is pointed at the session's demo data set,
    as if the run had trained here: pages then show the run's faces.
    """
    from fer_core import runs
    from fer_core.data import load_dataset

    source, demo = committed(name), load_dataset(None)
    run_dir = Path(shutil.copytree(source, tmp_path_factory.mktemp(f"{name}-runs") / source.name))
    record = runs.read_config(run_dir)
    runs.write_config(run_dir, replace(record, data={
        **record.data, "location": demo.location, "fingerprint": demo.fingerprint}))
    return run_dir


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished run on the demo data (fast-cpu, 2 epochs; committed, see
    ``tests/fixtures/make_runs.py``), shared by the whole session.

    Copy it (``shutil.copytree``) into a test's runs folder rather than changing it.
    """
    return _copy_committed(tmp_path_factory, "demo")


@pytest.fixture(scope="session")
def accurate_demo_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The records of a finished run that has learnt the demo (about 86% test accuracy):
    config, status, history, metrics, predictions, but no model. Committed as ``demo_run``;
    copy it before changing it."""
    return _copy_committed(tmp_path_factory, "accurate")


def _train_tiny(tmp_path_factory: pytest.TempPathFactory, name: str, *, epochs: int = 1,
                **changes) -> Path:
    """Train a fast-cpu run on the demo data with ``changes``; its folder."""
    run_dir = tmp_path_factory.mktemp(f"{name}-runs") / f"20260101-000000-{name}"
    return train_run(run_dir, epochs=epochs, **changes)


@pytest.fixture(scope="session")
def accurate_demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``accurate_demo_records`` trained afresh, model included, for the checks that need a
    model that knows the task (explanations). Slow tests only; copy it before changing it."""
    return _train_tiny(tmp_path_factory, "fer-cnn", **RECIPES["accurate"].changes)


@pytest.fixture(scope="session")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished run trained in mixed bfloat16 (fast-cpu, 1 epoch, 40 faces a class),
    shared by the export and model card tests: copy it rather than changing it."""
    return _train_tiny(tmp_path_factory, "mixed", seed=0, subsample_per_class=40,
                       mixed_precision="on")


@pytest.fixture(scope="session")
def bad_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deliberately bad finished run on the demo data: one epoch on 5 images per class at a
    learning rate too small to learn, so it scores below always answering the commonest class.
    Copy it rather than changing it."""
    return _train_tiny(tmp_path_factory, "bad", seed=3, subsample_per_class=5,
                       learning_rate=1e-6, tta=False, tta_shift=0)
