"""Studies: one click queues the runs that answer one of the seed report's questions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs, tasks
from fer_core.core.errors import ConfigError
from fer_core.tasks import studies
from tests.job_support import tiny

ROOT = Path(__file__).resolve().parents[1]


class NoWorker(tasks.LocalBackend):
    """Queues only: the folders are what these tests read."""

    def submit(self, run_dir: Path) -> None:
        pass


def _block(run_dir: Path) -> dict:
    return studies.study_of(runs.read_config(run_dir).extra)


def test_each_arm_is_the_base_with_its_own_fields() -> None:
    base = tiny(epochs=3, class_weights="balanced")
    arms = studies.study_configs("imbalance", base)

    assert [arm.label for arm, _ in arms] == ["none", "class weights", "disgust oversampled",
                                              "disgust removed"]
    by_label = {arm.label: config for arm, config in arms}
    assert by_label["none"].class_weights == "none"  # the arm, not the base, decides
    assert by_label["class weights"].class_weights == "balanced"
    assert by_label["disgust oversampled"].oversample_to == 2500
    assert by_label["disgust oversampled"].augment
    assert by_label["disgust removed"].drop_classes == ["disgust"]
    assert all(config.epochs == 3 for config in by_label.values())  # the rest is the base


def test_unknown_study_names_the_studies() -> None:
    with pytest.raises(ConfigError, match="batch-size, subsample, imbalance"):
        studies.get_study("learning-rate")


def test_launch_study_queues_one_named_group(tmp_path: Path) -> None:
    run_dirs = studies.launch_study("subsample", tiny(), preset="fast-cpu", runs_root=tmp_path,
                                    backend=NoWorker(tmp_path))

    blocks = [_block(d) for d in run_dirs]
    assert [b["arm"] for b in blocks] == ["750 per class", "2,500 per class", "all images"]
    assert len({b["group"] for b in blocks}) == 1
    assert {runs.read_status(d).sweep for d in run_dirs} == {blocks[0]["group"]}
    assert [runs.read_config(d).config["subsample_per_class"] for d in run_dirs] == [750, 2500, 0]
    assert runs.read_status(run_dirs[0]).display_name == "subsample: 750 per class"


@pytest.mark.slow
def test_cli_study_runs_every_arm_to_the_end(tmp_path: Path) -> None:
    env = {**os.environ, "FER_RUNS_DIR": str(tmp_path)}
    launched = subprocess.run(
        [sys.executable, "-m", "fer_core", "jobs", "launch", "--study", "batch-size",
         "--preset", "fast-cpu", "--set", "epochs=1", "--set", "subsample_per_class=40",
         "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert launched.returncode == 0, launched.stderr
    run_ids = json.loads(launched.stdout)["run_ids"]

    assert [tasks.wait(tmp_path / run_id, timeout=300) for run_id in run_ids] == ["succeeded"] * 3
    assert [runs.read_config(tmp_path / r).config["batch_size"] for r in run_ids] == [16, 32, 64]
    assert all(runs.read_metrics(tmp_path / r) for r in run_ids)


def test_train_page_launches_the_chosen_study(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)
    at = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path)
    at.run()
    at.selectbox(key="train.study").select("imbalance").run()
    assert any("disgust removed" in str(table.value) for table in at.table)

    at.button(key="train.launch_study").click().run()

    assert not at.exception
    assert any("4 jobs as study **imbalance**" in s.value for s in at.success)
    arms = sorted(_block(d)["arm"] for d in tmp_path.iterdir() if d.is_dir())
    assert arms == ["class weights", "disgust oversampled", "disgust removed", "none"]
