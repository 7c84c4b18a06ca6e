"""Deep links to Results: the query parameters choose the runs, the tab and the split."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.page_support import open_page
from views import links

REPO = Path(__file__).resolve().parents[1]


def _params(**values: list[str]):
    return lambda name: values.get(name, [])


def test_parse_link_keeps_known_runs_in_order_and_reports_the_others():
    view = links.parse_link(_params(runs=["b", "gone,a", "b"], tab=["Errors"], split=["val"]),
                            ["a", "b", "c"])

    assert view.runs == ["b", "a"] and view.unknown_runs == ["gone"]
    assert (view.tab, view.split) == ("Errors", "val")


def test_parse_link_ignores_an_unknown_tab_or_split():
    view = links.parse_link(_params(tab=["Charts"], split=["train"]), ["a"])

    assert (view.runs, view.tab, view.split) == ([], None, None)


def test_default_view_is_the_default_runs_first_tab_and_test_split():
    assert links.is_default_view(["a"], tab="Learning curves", split="test", default_runs=["a"])
    assert links.is_default_view(["a"], tab=None, split=None, default_runs=["a"])
    assert not links.is_default_view(["a"], tab="Errors", split=None, default_runs=["a"])
    assert not links.is_default_view(["a", "b"], tab=None, split=None, default_runs=["a"])


def test_link_url_round_trips_through_parse_link():
    params = links.link_params(["run one", "b"], tab="Gallery", split="test")
    url = links.link_url("http://127.0.0.1:8501/results", params)

    assert url == ("http://127.0.0.1:8501/results?runs=run+one&runs=b&tab=Gallery&split=test")
    assert links.link_url(None, []) == ""


@pytest.fixture
def two_runs(tmp_path: Path, demo_run: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    shutil.copytree(demo_run, root / "20260102-000000-second")
    return root


def _app(runs_root: Path, **params: str | list[str]) -> AppTest:
    return open_page("results", runs_root, query=params).run()


@pytest.mark.slow
def test_results_link_chooses_runs_tab_and_split(two_runs, demo_run):
    at = _app(two_runs, runs=[demo_run.name, "20260102-000000-second"], tab="Errors",
              split="val")

    assert not at.exception
    assert at.multiselect(key="results.runs").value == [demo_run.name, "20260102-000000-second"]
    assert at.session_state["results.tab"] == "Errors"
    assert at.radio(key="results.split").value == "val"
    code = at.get("code")[-1].value
    assert code == (f"?runs={demo_run.name}&runs=20260102-000000-second&tab=Errors&split=val")


def test_parse_link_reads_run_as_runs():
    view = links.parse_link(_params(run=["a"], runs=["b"]), ["a", "b"])
    assert view.runs == ["b", "a"] and view.unknown_runs == []


@pytest.mark.slow
def test_results_link_with_run_instead_of_runs_opens_that_run(two_runs, demo_run):
    at = _app(two_runs, run=demo_run.name)

    assert not at.exception and not at.warning
    assert at.multiselect(key="results.runs").value == [demo_run.name]
    assert "run" not in at.query_params and at.query_params["runs"] in (
        demo_run.name, [demo_run.name])  # the address now says it the one way


@pytest.mark.slow
def test_results_link_to_a_missing_run_warns_and_shows_the_default(two_runs, demo_run):
    at = _app(two_runs, runs="20250101-000000-deleted")

    assert not at.exception
    assert any("20250101-000000-deleted" in w.value for w in at.warning)
    assert at.multiselect(key="results.runs").value == ["20260102-000000-second"]  # newest


@pytest.mark.slow
def test_results_url_follows_the_view(two_runs, demo_run):
    at = _app(two_runs)
    assert not at.query_params  # the page as it first opens: a clean address
    assert at.get("code")[-1].value.startswith("?runs=20260102-000000-second&tab=")

    at.multiselect(key="results.runs").set_value([demo_run.name]).run()

    assert at.query_params["runs"] in (demo_run.name, [demo_run.name])  # one value, or a list
    assert at.get("code")[-1].value.startswith(f"?runs={demo_run.name}&tab=")


@pytest.mark.slow
def test_a_click_sent_with_the_address_from_before_keeps_its_choice(two_runs, demo_run):
    """A click sent while the last run was still publishing carries the address from before
    it; the page keeps the user's choice and puts the address right."""
    at = _app(two_runs)
    at.session_state["results.tab"] = "Errors"
    at.run()
    stale = dict(at.query_params)
    assert stale["tab"] in ("Errors", ["Errors"])

    at.session_state["results.tab"] = "Gallery"
    at.run()
    at.query_params.clear()
    at.query_params.update(stale)  # the browser had not yet seen the Gallery address
    at.session_state["results.tab"] = "Share"
    at.run()

    assert not at.exception
    assert at.session_state["results.tab"] == "Share"
    assert at.get("code")[-1].value.endswith("&tab=Share&split=test")


@pytest.mark.slow
def test_a_link_never_shown_before_still_sets_the_view(two_runs, demo_run):
    at = _app(two_runs)
    at.session_state["results.tab"] = "Gallery"
    at.run()

    at.query_params.clear()
    at.query_params.update(runs=demo_run.name, tab="Errors")  # a page link to one run
    at.run()

    assert at.session_state["results.tab"] == "Errors"
    assert at.multiselect(key="results.runs").value == [demo_run.name]


def test_the_session_remembers_only_its_latest_addresses(monkeypatch):
    """The memory of published addresses is bounded; one used again moves to the newest end."""
    from ui import links as ui_links

    monkeypatch.setattr(ui_links.st, "session_state", {})
    addresses = [(("tab", f"t{i}"),) for i in range(ui_links.SEEN_LIMIT + 5)]
    for query in addresses:
        ui_links._remember(query)
    ui_links._remember(addresses[5])

    seen = ui_links._seen()
    assert len(seen) == ui_links.SEEN_LIMIT
    assert addresses[4] not in seen and seen[-1] == addresses[5]
    assert addresses[-1] in seen


def test_server_knows_every_page_address() -> None:
    """serve.py sends an address naming no page to the start page, so a page it does not know
    would be unreachable: its list holds each file of app_pages/ (the start page at ``/``)."""
    tree = ast.parse((REPO / "serve.py").read_text())
    (pages,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "PAGES"]
    stems = {path.stem for path in (REPO / "app_pages").glob("*.py")}
    assert set(pages) == (stems - {"start"}) | {""}
