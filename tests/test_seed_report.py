"""The "Seed report" view: quoted and measured rows, the answers, the Results tab, the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs
from fer_core.data import DataRef
from fer_core.reports import report, seed_report
from fer_core.reports.report_seed import seed_section_html
from tests.seed_support import study_run

PAGE = Path(__file__).resolve().parents[1] / "app_pages" / "results.py"
OLD_GROUP = "study-batch-size-20261130-200000"
GROUP = "study-batch-size-20261130-221500"


@pytest.fixture
def study_root(tmp_path: Path, demo_run: Path, accurate_demo_records: Path) -> Path:
    """A partial batch-size study (16 and 32 finished, 64 not), an older group of it, a
    partial imbalance study, and one run no study launched."""
    root = tmp_path / "runs"
    study_run(demo_run, root, "20261130-221501-b16", study="batch-size", group=GROUP,
              arm="batch 16", batch_size=16)
    study_run(accurate_demo_records, root, "20261130-221502-b32", study="batch-size",
              group=GROUP, arm="batch 32", batch_size=32)
    study_run(accurate_demo_records, root, "20261130-200001-b64", study="batch-size",
              group=OLD_GROUP, arm="batch 64", batch_size=64)
    study_run(demo_run, root, "20261130-230001-none", study="imbalance",
              group="study-imbalance-20261130-230000", arm="none")
    shutil.copytree(demo_run, root / "20261130-100000-fast-cpu")
    return root


def _accuracy(run_dir: Path) -> float:
    return runs.read_metrics(run_dir)["test"]["accuracy"]


# --- the view model ------------------------------------------------------------------------------

def test_seed_report_no_runs_has_the_quoted_rows_and_says_to_launch_each_study():
    seed = seed_report.build_seed_report([])

    assert list(seed.rows["source"]) == ["quoted"] * 3
    assert list(seed.rows["test_accuracy"]) == [0.4414, 0.49, 0.4866]
    assert list(seed.rows["classes"]) == [7, 7, 6]
    for name in seed_report.STUDY_NAMES:
        assert seed.answers[name].startswith(f"Not measured yet: the study {name} has no runs")
    assert seed.measured == []


def test_seed_report_rows_mark_quoted_and_measured_and_keep_the_latest_group(study_root):
    seed = seed_report.build_seed_report(runs.list_runs(study_root))
    rows = seed.rows

    assert list(rows["source"]) == ["quoted"] * 3 + ["measured"] * 4
    measured = rows[rows["source"] == "measured"].set_index("run")
    # the newer batch-size group only: its batch 64 arm has not finished
    assert list(measured["arm"].iloc[:2]) == ["batch 16", "batch 32"]
    assert "20261130-200001-b64" not in measured.index
    assert seed.studies["batch-size"].group == GROUP
    assert seed.studies["batch-size"].missing == ["batch 64"]
    assert measured.loc["20261130-221502-b32", "test_accuracy"] == _accuracy(
        study_root / "20261130-221502-b32")
    other = measured.loc["20261130-100000-fast-cpu"]
    assert pd.isna(other["study"]) and other["recipe"].endswith("best other run")
    for run_id, row in measured.iterrows():
        history = runs.read_history(study_root / run_id)
        train = runs.read_config(study_root / run_id).data["sizes"]["train"]
        assert row["images_per_s"] == pytest.approx(
            train * len(history) / history["seconds"].sum(), rel=1e-2)
        assert row["minutes"] > 0 and row["val_accuracy"] > 0
    assert seed.measured[0].run_id == "20261130-221502-b32"  # best test accuracy first


def test_seed_report_answers_are_computed_from_the_measured_arms(study_root):
    seed = seed_report.build_seed_report(runs.list_runs(study_root))
    b16, b32 = (_accuracy(study_root / r) for r in ("20261130-221501-b16",
                                                      "20261130-221502-b32"))

    batch = seed.answers["batch-size"]
    assert batch.startswith(f"batch 32 scored best on test ({b32:.2%}), "
                            f"{(b32 - b16) * 100:.1f} points above batch 16.")
    assert "Lowest validation loss:" in batch and "Not finished yet: batch 64." in batch
    assert "standard error" in batch
    imbalance = seed.answers["imbalance"]
    assert imbalance.startswith("Only none has finished so far")
    assert "Disgust recall on test: none" in imbalance
    assert seed.answers["subsample"].startswith("Not measured yet: the study subsample has no runs")


def test_seed_report_ignores_unfinished_and_foreign_study_runs(study_root):
    runs.write_status(study_root / "20261130-230001-none", state="failed", error="stopped")
    record = runs.read_config(study_root / "20261130-221501-b16")
    runs.write_config(study_root / "20261130-221501-b16", type(record).from_json(
        {**record.to_json(), "study": {"name": "no-such-study", "group": "g", "arm": "a"}}))

    seed = seed_report.build_seed_report(runs.list_runs(study_root))

    assert seed.studies["imbalance"].arms == []
    assert [arm.label for arm in seed.studies["batch-size"].arms] == ["batch 32"]
    assert seed_report.has_study_runs(runs.list_runs(study_root))


# --- the Results tab -----------------------------------------------------------------------------

def _results(runs_root: Path) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["app.runs_dir"] = str(runs_root)
    at.session_state["app.data"] = DataRef()
    at.session_state["results.tab"] = "Seed report"  # the tab is drawn only when open
    return at.run()


def _tab(at: AppTest, label: str):
    return next(tab for tab in at.tabs if tab.label == label)


def _chart_names(node) -> set[str]:
    return {json.loads(chart.proto.spec).get("usermeta", {}).get("fer_chart")
            for chart in node.get("vega_lite_chart")}


def test_results_seed_tab_shows_rows_answers_and_figures_5a_5b(study_root):
    at = _results(study_root)

    assert not at.exception
    tab = _tab(at, "Seed report")
    table = tab.dataframe[0].value
    assert list(table["Quoted or measured"]) == ["quoted"] * 3 + ["measured"] * 4
    [figure_5a] = [c for c in tab.get("vega_lite_chart")
                   if json.loads(c.proto.spec).get("usermeta", {}).get("fer_chart") == "seed_5a"]
    [data] = figure_5a.proto.datasets
    lines = pa.ipc.open_stream(data.data.data).read_all().to_pandas()
    assert set(lines["run"]) == {"batch 16", "batch 32"}  # one line per batch size
    assert {"seed_5a", "seed_5b", "learning_curves", "confusion_matrix"} <= _chart_names(tab)
    text = " ".join(m.value for m in tab.markdown)
    assert "batch 32 scored best on test" in text
    assert "Not measured yet: the study subsample has no runs" in text
    images = tab.get("image")
    assert len(images) == 1 + 16  # an example face, then the true-vs-predicted gallery
    assert sum(m.value.startswith((":green[", ":red[")) for m in tab.markdown) == 16


def test_results_seed_tab_of_a_viewer_without_studies_says_who_launches_them(tmp_path, demo_run,
                                                                              monkeypatch):
    monkeypatch.setenv("FER_READ_ONLY", "1")
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)

    at = _results(root)

    assert not at.exception
    tab = _tab(at, "Seed report")
    assert list(tab.dataframe[0].value["Quoted or measured"]) == ["quoted"] * 3 + ["measured"]
    assert "seed_5a" not in _chart_names(tab)
    notes = " ".join(info.value for info in tab.info)
    assert "No study has finished yet" in notes and "Ask whoever runs this FER Studio" in notes
    assert "batch-size study" in notes and "it has no runs here" in notes  # figures 5a, 5b
    text = " ".join(m.value for m in tab.markdown)
    assert text.count("Not measured yet") == 3


# --- the HTML report -----------------------------------------------------------------------------

def test_report_seed_section_has_rows_answers_and_figures(study_root):
    from fer_core.data import load_dataset

    ds = load_dataset(None)
    images = dict(zip(ds.index["id"], ds.images, strict=True))

    section = seed_section_html(runs.list_runs(study_root), images, fingerprint=ds.fingerprint,
                                gallery_size=16)

    assert section.count("<td>quoted</td>") == 3 and section.count("<td>measured</td>") == 4
    assert "batch 32 scored best on test" in section
    assert "Not measured yet: the study subsample has no runs" in section
    assert 'aria-label="Validation accuracy"' in section  # figure 5a
    assert 'aria-label="Validation loss"' in section  # figure 5b
    assert section.count(">batch 16</text>") == 2 and section.count(">batch 32</text>") == 2
    assert 'aria-label="Training images per class"' in section
    assert 'aria-label="Confusion matrix (test)"' in section
    assert section.count("<figure") == 1 + 16  # the example face and the gallery


def test_report_includes_the_seed_section_only_with_study_runs(study_root):
    with_study = report.build_report([study_root / "20261130-221501-b16",
                                      study_root / "20261130-100000-fast-cpu"])
    without = report.build_report([study_root / "20261130-100000-fast-cpu"])

    start = with_study.index('<h2 id="seed-report">Seed report</h2>')
    assert start < with_study.index('<h2 id="20261130-221501-b16">')
    assert "Only batch 16 has finished so far" in with_study
    assert 'id="seed-report"' not in without
