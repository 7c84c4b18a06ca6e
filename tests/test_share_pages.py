"""Results and Predict mark a run no better than the majority-class baseline as not usable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.page_support import open_page


@pytest.fixture
def good_and_bad(tmp_path: Path, demo_run: Path, bad_run: Path) -> Path:
    root = tmp_path / "runs"
    for run in (demo_run, bad_run):
        shutil.copytree(run, root / run.name)
    return root


def _page(name: str, runs_root: Path, **state) -> AppTest:
    return open_page(name, runs_root, **state).run()


@pytest.mark.slow
def test_results_marks_the_bad_run_not_usable(good_and_bad, demo_run, bad_run):
    at = _page("results", good_and_bad, **{"results.runs": [demo_run.name, bad_run.name]})

    assert not at.exception
    errors = [e.value for e in at.error]
    assert [e for e in errors if e.startswith(f"{bad_run.name}: Not usable")]
    assert not [e for e in errors if demo_run.name in e]
    options = at.multiselect(key="results.runs").options
    assert any("not usable" in o for o in options if bad_run.name in o)
    assert not any("not usable" in o for o in options if demo_run.name in o)
    table = next(t.value for t in at.dataframe if "Usable" in t.value.columns)
    assert dict(zip(table["Run"], table["Usable"], strict=True))[demo_run.name] == "yes"


@pytest.mark.slow
def test_results_accuracy_is_shown_against_the_baseline(good_and_bad, bad_run):
    at = _page("results", good_and_bad, **{"results.runs": [bad_run.name]})

    accuracy = next(m for m in at.metric if m.label == "Accuracy")
    assert accuracy.proto.delta.startswith("-") and "vs. always happy" in accuracy.proto.delta


@pytest.mark.slow
def test_predict_offers_the_usable_run_first_and_warns_on_the_bad_one(good_and_bad, demo_run,
                                                                      bad_run):
    at = _page("predict", good_and_bad)

    assert not at.exception
    assert at.multiselect(key="predict.runs").value == [demo_run.name]
    assert not at.warning or not any("Not usable" in w.value for w in at.warning)

    at.multiselect(key="predict.runs").set_value([bad_run.name]).run()

    assert any(w.value.startswith(f"{bad_run.name}: Not usable") for w in at.warning)
