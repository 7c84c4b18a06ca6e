"""The data reference: one choice, its text form, and FER_DATA_DIR as a default only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.core.config import preset
from fer_core.data import DEMO_DATA, DataRef, load_dataset
from fer_core.inference.evaluation import run_split


@pytest.mark.parametrize("name", ["fer2013", "fer2013.csv", "fer2013.zip"])
def test_reference_text_form_round_trips_as_an_absolute_path(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    ref = DataRef.parse(name)
    assert ref == DataRef(tmp_path / name) and str(ref) == str(tmp_path / name)
    assert DataRef.parse(str(ref)) == ref and not ref.is_demo


def test_reference_demo_is_named_demo_and_round_trips():
    assert str(DataRef()) == DEMO_DATA
    assert DataRef.parse(DEMO_DATA) == DataRef() and DataRef().is_demo
    assert DataRef().label == "the synthetic demo data set"


def test_reference_demo_is_never_fer_data_dir(env_data):
    demo = DataRef.parse(DEMO_DATA)
    assert demo.is_demo and demo.load().synthetic
    assert demo.fingerprint() == load_dataset(DEMO_DATA).fingerprint != DataRef(
        env_data).fingerprint()
    assert load_dataset(None).synthetic  # the engine never reads FER_DATA_DIR itself


def test_reference_default_is_fer_data_dir_made_explicit(env_data, monkeypatch):
    assert DataRef.default() == DataRef.parse("") == DataRef(env_data)
    assert DataRef.default().load().location == str(env_data)
    monkeypatch.delenv("FER_DATA_DIR")
    assert DataRef.default() == DataRef()


def _old_run(run_dir: Path, data: str) -> Path:
    """A run folder as earlier versions wrote it: ``data`` empty (the default) or a path."""
    runs.create_run(preset("fast-cpu").replace(data=data).to_dict(), run_dir=run_dir)
    runs.write_config(run_dir, replace(runs.read_config(run_dir),
                                       data={"classes": ["happy", "sad"]}))
    return run_dir


@pytest.mark.parametrize("recorded", ["", "path"])
def test_old_config_json_data_reads_as_before(tmp_path, env_data, recorded):
    """``data: ""`` meant FER_DATA_DIR (else the demo) when the run was made; a path, that
    path: both evaluate on the same images as before."""
    run_dir = _old_run(tmp_path / "runs" / "old", "" if recorded == "" else str(env_data))
    test, classes = run_split(run_dir, "test")
    assert classes == ("happy", "sad") and len(test.images) == 5


def test_launch_records_the_choice_explicitly_and_keeps_the_demo(tmp_path, env_data,
                                                                  monkeypatch):
    from fer_core import tasks

    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)
    config = preset("fast-cpu")
    recorded = [runs.read_config(tasks.launch(config.replace(data=data),
                                              runs_root=tmp_path / "runs")).config["data"]
                for data in (DEMO_DATA, "")]
    assert recorded == [DEMO_DATA, str(env_data)]


def test_suspects_pass_always_names_its_data(env_data, fresh_cache):
    from fer_core.tasks import suspects

    spec = suspects.spec(DataRef(), DataRef().load(), folds=2)
    assert spec["data"] == DEMO_DATA  # never empty, which a job would read as FER_DATA_DIR
    assert DataRef.parse(spec["data"]).load().fingerprint == DataRef().fingerprint()
