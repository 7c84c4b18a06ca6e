"""What a stakeholder reads in the HTML report: readable cells, tables that fit, human names,
the data set, the leakage caveat and runs marked not usable."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from fer_core import cli
from fer_core.data import DataRef, load_dataset
from fer_core.data.leakage import LeakageCaveat, leakage_caveat
from fer_core.reports import blocks, report


@pytest.fixture
def good_and_bad(tmp_path: Path, demo_run: Path, bad_run: Path) -> list[Path]:
    return [Path(shutil.copytree(run, tmp_path / run.name)) for run in (demo_run, bad_run)]


def _headers(page: str) -> list[list[str]]:
    return [re.findall(r"<th>([^<]*)</th>", head) for head in
            re.findall(r"<thead>(.*?)</thead>", page, re.S)]


def test_confusion_matrix_cells_on_dark_blue_get_white_text():
    svg = blocks.svg_confusion_matrix([[94, 6], [40, 60]], ["happy", "sad"])

    cells = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"/><text [^>]*class="count (on-\w+)"',
                       svg)
    assert cells[0] == ("#163c74", "on-dark")  # 94% of happy: the darkest cell
    assert cells[1][1] == "on-light"  # 6%
    assert "svg.chart text.on-dark { fill: #ffffff; }" in report.CSS


@pytest.mark.slow
def test_report_tables_fit_and_use_human_names(good_and_bad):
    page = report.build_report(good_and_bad)

    headers = _headers(page)
    assert headers[0][:2] == ["Run", "State"] and "Test accuracy" in headers[0]
    assert "Batch size" in headers[1] and "Augmentation" in headers[1]
    assert all(len(columns) <= 11 for columns in headers)
    assert "Share of the true class" in page
    for machine in ("val_accuracy", "macro_f1", "share_of_true", "augment <b>True",
                    "batch_size", "white-space: nowrap"):
        assert machine not in page
    assert "augmentation <b>on</b>" in page


@pytest.mark.slow
def test_report_names_the_data_set_its_sizes_and_the_leakage_caveat(good_and_bad):
    ds = load_dataset(None)
    caveat = leakage_caveat(ds)

    page = report.build_report(good_and_bad, leakage=caveat)

    assert "<h2>Data</h2>" in page and "synthetic demo data" in page
    assert re.search(r"[\d,]+ training, [\d,]+ validation, 700 test images", page)
    assert f"Leakage: {caveat.text}".replace('"', "&quot;") in page
    other = LeakageCaveat("another", "x", "test", 10, 1)
    assert "Leakage:" not in report.build_report(good_and_bad, leakage=other)


@pytest.mark.slow
def test_report_marks_the_bad_run_not_usable_and_only_it(good_and_bad):
    page = report.build_report(good_and_bad)

    assert page.count('class="unusable"') == 1
    section = page.split(f'<h2 id="{good_and_bad[1].name}">')[1]
    assert "Not usable: test accuracy" in section and "&quot;happy&quot;" in section
    assert re.search(r"<td>no \(baseline 25\.1%\)</td>", page)
    assert "<td>yes</td>" in page


def test_leakage_caveat_is_cached_per_data_set():
    from fer_core.core import settings

    ds = load_dataset(None)

    first = leakage_caveat(ds)
    [cached] = (settings.cache_dir() / "audit").glob(f"*{ds.fingerprint}*.json")
    stamp = cached.stat().st_mtime_ns
    second = leakage_caveat(ds)

    assert first == second and cached.stat().st_mtime_ns == stamp
    assert first.n_split == int((ds.index["split"] == "test").sum())


@pytest.mark.slow
def test_fer2013_test_split_leakage_is_418_images_11_6_percent(real_fer2013):
    caveat = leakage_caveat(load_dataset(real_fer2013))

    assert (caveat.n_leaked, caveat.n_split) == (418, 3589)
    assert "418 of the 3,589 test images" in caveat.text and "(11.6%)" in caveat.text


def test_runs_report_command_writes_the_share_tabs_file(demo_run, tmp_path, capsys):
    """One run or a comparison, with the demo's galleries: the file Share downloads."""
    out = tmp_path / "report.html"
    assert cli.main(["runs", "report", str(demo_run), str(demo_run), "--data", "demo",
                     "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    minute = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")
    shared = report.report_on([demo_run, demo_run], DataRef())
    assert minute.sub("", out.read_text()) == minute.sub("", shared)
    assert demo_run.name in shared and "<img" in shared  # the gallery's faces
