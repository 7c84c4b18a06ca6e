"""A search in the app and its report, on the finished search committed under
``tests/fixtures/search`` (``python -m tests.fixtures.make_search``): five trials of fast-cpu on
the demo data, two of them pruned. Nothing here trains; Launch only queues."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fer_core import runs, tasks
from fer_core.runs import searches, task_folders
from tests.page_support import open_page

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "search"


@pytest.fixture
def search_root(tmp_path: Path) -> Path:
    """A runs folder holding the committed search and its trial runs."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE, root)
    return root


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)


def the_search(root: Path) -> Path:
    [folder] = searches.search_folders(root)
    return folder


def chart_names(at) -> set[str]:
    return {json.loads(chart.proto.spec).get("usermeta", {}).get("fer_chart")
            for chart in at.get("vega_lite_chart")}


def test_results_search_tab_shows_the_whole_search(search_root: Path) -> None:
    at = open_page("results", search_root, query={"tab": "Search"}).run()
    assert not at.exception
    assert {"search_objective", "search_parallel", "search_importance"} <= chart_names(at)
    summary = searches.read_summary(the_search(search_root))
    trials = next(frame.value for frame in at.dataframe if "Trial" in frame.value.columns)
    assert len(trials) == len(summary["trials"]) == 5
    assert sum(trials["State"].str.startswith("pruned")) == searches.counts(summary)["pruned"]
    best = summary["best"]
    assert any(f"Best: trial {best['number']}" in h.value for h in at.subheader)
    assert at.button(key="results.search.train")


def test_train_with_these_settings_queues_the_best_on_the_base_schedule(
        search_root: Path, no_worker: None) -> None:
    at = open_page("results", search_root, query={"tab": "Search"}).run()
    before = set(runs.run_folders(search_root))
    at.button(key="results.search.train").click().run()
    assert not at.exception
    [run_dir] = set(runs.run_folders(search_root)) - before
    best = searches.read_summary(the_search(search_root))["best"]["params"]
    config = runs.read_config(run_dir).config
    assert {k: config[k] for k in best} == best
    assert config["epochs"] == 3 and config["time_budget_min"] == 0  # the base's schedule
    assert runs.read_status(run_dir).display_name.startswith("best of ")
    assert any(run_dir.name in s.value for s in at.success)


def test_search_trials_leave_the_run_list_until_asked(search_root: Path, demo_run: Path) -> None:
    shutil.copytree(demo_run, search_root / demo_run.name)
    at = open_page("results", search_root).run()
    options = at.multiselect(key="results.runs").options
    assert len(options) == 1 and demo_run.name in options[0]
    at.toggle(key="results.trials").set_value(True).run()
    assert len(at.multiselect(key="results.runs").options) == 6


def test_train_search_tab_checks_the_plan_and_counts_the_trials(search_root: Path) -> None:
    at = open_page("train", search_root).run()
    assert at.multiselect(key="train.search.fields").value == ["learning_rate", "dropout"]
    assert any("About 12 trials of 5 minutes fit in 60 minutes" in c.value for c in at.caption)
    at.number_input(key="train.search.dropout.low").set_value(0.85).run()
    assert any("Dropout: the range 0.85 to" in e.value and "is empty" in e.value
               for e in at.error)
    assert at.button(key="train.search.launch").disabled


def test_launch_search_queues_a_search_of_the_forms_recipe(search_root: Path,
                                                          no_worker: None) -> None:
    at = open_page("train", search_root).run()
    at.multiselect(key="train.search.fields").set_value(["learning_rate", "optimizer"]).run()
    at.button(key="train.search.launch").click().run()
    assert not at.exception
    newest = searches.search_folders(search_root)[0]
    assert newest != the_search(FIXTURE)
    plan = searches.plan_of(newest)
    assert [d.name for d in plan.dimensions] == ["learning_rate", "optimizer"]
    assert plan.dimensions[1].choices == ("adam", "adamw", "sgd")
    assert plan.base_config.data  # the sidebar's data set, written in
    assert task_folders.read_task(newest).lane == "coordinator"


def test_the_job_list_shows_a_searchs_trials(search_root: Path) -> None:
    at = open_page("train", search_root).run()
    assert any("search" in m.value and the_search(search_root).name in m.value
               for m in at.markdown)
    assert any("Trial" in frame.value.columns for frame in at.dataframe)


def test_search_report_draws_the_search(search_root: Path) -> None:
    from fer_core.reports.report_search import search_report

    html = search_report(the_search(search_root))
    assert html.count("<svg") == 3 and "Best: trial 0" in html
    assert html.count("<tr") == 5 + 1 + 3 + 1  # trials and best settings, with their headers


def test_search_show_prints_the_trials_and_the_best(search_root: Path) -> None:
    task = the_search(search_root)
    shown = subprocess.run([sys.executable, "-m", "fer_core", "search", "show", task.name,
                            "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "FER_RUNS_DIR": str(search_root)})
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["state"] == "succeeded" and len(data["trials"]) == 5
    assert data["best"]["number"] == 0
    people = subprocess.run([sys.executable, "-m", "fer_core", "search", "show", task.name],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FER_RUNS_DIR": str(search_root)})
    assert "Best: trial 0, validation accuracy" in people.stdout
    assert "pruned at 3/10" in people.stdout


# --- a search as one zip -------------------------------------------------------------------------

def test_a_search_zip_imports_elsewhere_as_it_was(search_root: Path, tmp_path: Path) -> None:
    from fer_core.runs import search_archive

    task = the_search(search_root)
    data = search_archive.export_search_zip(task)
    assert search_archive.is_search_zip(data)
    elsewhere = tmp_path / "elsewhere"
    imported = search_archive.import_search_zip(data, elsewhere)
    assert imported.name == task.name
    assert searches.read_summary(imported) == searches.read_summary(task)
    assert {p.name for p in runs.run_folders(elsewhere)} == {
        t["run"] for t in searches.read_summary(task)["trials"]}
    with pytest.raises(search_archive.archive.RunExistsError, match="already here"):
        search_archive.import_search_zip(data, elsewhere)
    at = open_page("results", elsewhere, query={"tab": "Search"}).run()
    assert not at.exception and "search_parallel" in chart_names(at)


@pytest.mark.parametrize(("entry", "message"), [
    ("x/../../evil.txt", "points outside"),
    ("stray.txt", "neither in search/ nor in runs/"),
])
def test_a_tampered_search_zip_is_refused(search_root: Path, tmp_path: Path, entry: str,
                                         message: str) -> None:
    import io
    import zipfile

    from fer_core.core.errors import RunError
    from fer_core.runs import search_archive

    buffer = io.BytesIO(search_archive.export_search_zip(the_search(search_root)))
    with zipfile.ZipFile(buffer, "a") as zipped:
        zipped.writestr(entry, "x")
    with pytest.raises(RunError, match=message):
        search_archive.import_search_zip(buffer.getvalue(), tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists() or not any((tmp_path / "elsewhere").iterdir())


def test_a_search_still_running_is_not_imported(search_root: Path, tmp_path: Path) -> None:
    from fer_core.core.errors import RunError
    from fer_core.runs import search_archive

    task = the_search(search_root)
    runs.write_status(task, state="running")
    with pytest.raises(RunError, match="only a search that ended"):
        search_archive.import_search_zip(search_archive.export_search_zip(task), tmp_path / "b")
