"""Environment variables: each parsed in one place, and a bad value gets one clear error."""

from __future__ import annotations

import pytest

from fer_core import tasks
from fer_core.cli import main
from fer_core.core import settings
from fer_core.core.errors import ConfigError


@pytest.mark.parametrize(("name", "value", "match"), [
    ("FER_RAY_GPUS", "two", "FER_RAY_GPUS must be a number of GPUs"),
    ("FER_RAY_GPUS", "-1", "FER_RAY_GPUS must be a number of GPUs"),
    ("FER_JOBS_BACKEND", "slurm", "FER_JOBS_BACKEND must be one of local, ray"),
])
def test_bad_environment_value_names_the_variable(monkeypatch, name, value, match) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("FER_JOBS_BACKEND", "ray" if name == "FER_RAY_GPUS" else value)
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    with pytest.raises(ConfigError, match=match):
        tasks.backend_from_env()


def test_bad_environment_value_is_one_line_on_the_command_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("FER_JOBS_BACKEND", "slurm")
    assert main(["jobs", "launch", "--preset", "fast-cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: FER_JOBS_BACKEND must be one of local, ray; got 'slurm'."]


def test_settings_defaults_and_values(monkeypatch, tmp_path) -> None:
    for name in ("FER_DATA_DIR", "FER_RAY_GPUS", "RAY_ADDRESS", "MLFLOW_TRACKING_URI",
                 "FER_JOBS_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    assert (settings.data_dir(), settings.ray_gpus(), settings.ray_address()) == (None, 0, None)
    assert (settings.jobs_backend(), settings.mlflow_tracking_uri()) == ("local", None)
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FER_RAY_GPUS", "0.5")
    monkeypatch.setenv("FER_JOBS_BACKEND", " Ray ")
    assert (settings.data_dir(), settings.ray_gpus(), settings.jobs_backend()) == (
        tmp_path, 0.5, "ray")
