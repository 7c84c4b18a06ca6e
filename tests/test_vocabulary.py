"""One wording for every number and name: every table a person reads, in the app, the HTML report,
the model card and the export and job texts, names its columns and writes its values in words
(``fer_core.core.vocabulary``), never with a machine key, and accuracies all as percentages."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fer_core import runs
from fer_core.core import vocabulary
from fer_core.core.config import field_names
from fer_core.export import report as export_report
from fer_core.export.parity import judge
from fer_core.reports import card, report
from tests.fixtures.make_runs import train_run
from tests.page_support import open_page
from views.progress import metrics_text

SNAKE = re.compile(r"\b[A-Za-z0-9]+_[A-Za-z0-9_]+\b")
FILE = re.compile(r"\S+\.(?:tflite|onnx|keras|h5|csv|json|zip|png|txt)\b")
BARE = {"True", "False", "None", "nan", "NaN", "<NA>"}
ENGLISH = {"test"}  # a split's name is also a word
ENTRY = {"format": "tflite-int8", "file": "model_int8.tflite", "bytes": 1_234_567, "images": 700,
         "max_abs_diff": 2e-3, "top1_agreement": 0.991, "accuracy": 0.2671,
         "keras_accuracy": 0.2686, "images_per_s": 4462.3}


def _keys(value: object) -> set[str]:
    """The keys of a JSON record at any depth; class names (per_class's keys) are words."""
    if not isinstance(value, dict):
        return set()
    inner = [v for key, v in value.items() if key != "per_class"]
    inner += list((value.get("per_class") or {}).values())
    return set(value) - {"per_class"} | {"per_class"} | {k for v in inner for k in _keys(v)}


def machine_keys(run_dir: Path) -> set[str]:
    """The names a person must never read: config fields and every key the run's files hold."""
    files = runs.files(run_dir)
    keys = set(field_names()) | _keys(runs.read_json(files.metrics)) | _keys(judge(dict(ENTRY)))
    keys |= _keys(runs.read_json(files.calibration) or {})
    keys |= set(pd.read_csv(files.history).columns)
    return keys - ENGLISH


def offences(tables: Iterable[tuple[str, list[str], list[list[str]]]], keys: set[str]
             ) -> list[str]:
    """Every raw key, snake_case word, bare True/False/None, count without separators, or
    accuracy written as a fraction, as ``where: column: cell``."""
    found = []
    for where, head, rows in tables:
        for text in head:
            if text in keys or SNAKE.search(text) or text in BARE:
                found.append(f"{where}: header {text!r}")
        for row in rows:
            for column, text in zip(head, row, strict=False):
                words = FILE.sub("", text)
                if text in keys or SNAKE.search(words) or text in BARE:
                    found.append(f"{where}: {column}: {text!r}")
                elif re.fullmatch(r"\d{4,}", text):
                    found.append(f"{where}: {column}: {text!r} without thousands separators")
                elif (re.search(r"accura|agreement", column, re.I)
                      and re.fullmatch(r"[01]?\.\d+", text)):
                    found.append(f"{where}: {column}: {text!r}, a fraction beside percentages")
    return found


def _frame_table(where: str, frame: pd.DataFrame) -> tuple[str, list[str], list[list[str]]]:
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    head = [str(c) for c in frame.columns]
    return where, head, [[str(v) for v in row] for row in frame.itertuples(index=False)]


def _markdown_tables(where: str, text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    tables, lines = [], [line for line in text.splitlines()]
    block: list[list[str]] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                block.append(cells)
        elif block:
            tables.append((where, block[0], block[1:]))
            block = []
    return tables


def page_tables(at: AppTest, where: str) -> list[tuple[str, list[str], list[list[str]]]]:
    assert not at.exception, at.exception
    found = [_frame_table(f"{where} dataframe", e.value) for e in at.dataframe]
    found += [_frame_table(f"{where} table", e.value) for e in at.table]
    for element in at.markdown:
        found += _markdown_tables(f"{where} markdown", element.value)
    return found


def html_tables(where: str, page: str) -> list[tuple[str, list[str], list[list[str]]]]:
    def cells(row: str, tag: str) -> list[str]:
        return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                for c in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", row, re.S)]

    found = []
    for table in re.findall(r"<table.*?</table>", page, re.S):
        rows = re.findall(r"<tr.*?</tr>", table, re.S)
        head = cells(rows[0], "th") if rows else []
        found.append((where, head, [cells(r, "td") for r in rows[1:]]))
    return found


def app_and_report_tables(run_dir: Path, runs_root: Path, data_path: str | None = None) -> list:
    def opened(page: str, **state) -> AppTest:
        return open_page(page, runs_root, data_path=data_path, timeout=300, **state).run()

    tables = []
    for section in ("Classes", "Image quality", "Validation split"):
        tables += page_tables(opened("explore", **{"explore.section": section}),
                              f"Explore/{section}")
    tables += page_tables(opened("train"), "Train")
    for tab in ("Curves", "Seed report"):
        tables += page_tables(opened("results", **{"results.tab": tab}), f"Results/{tab}")
    tables += page_tables(opened("predict"), "Predict")
    tables += html_tables("report", report.build_report([run_dir]))
    tables += _markdown_tables("model card", card.build_card(run_dir).to_markdown())
    entries = [judge(dict(ENTRY))]
    tables.append(_frame_table("Export tab", vocabulary.for_people(export_report.frame(entries))))
    return tables


@pytest.fixture
def runs_root(tmp_path: Path, demo_run: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    return root


def test_no_raw_key_in_any_table_of_the_app_or_the_report(runs_root: Path, demo_run: Path):
    run_dir = runs_root / demo_run.name
    tables = app_and_report_tables(run_dir, runs_root)
    assert len(tables) >= 10  # every page drew its tables
    found = offences(tables, machine_keys(run_dir))
    assert found == [], "\n".join(found)


@pytest.mark.slow
def test_no_raw_key_on_a_fer2013_run(tmp_path: Path, real_fer2013: Path):
    """The same on FER-2013 itself, its seven classes (disgust among them) in every table: a
    one-epoch run on 100 training faces a class, scored single-view on the whole test split."""
    run_dir = train_run(tmp_path / "runs" / "fer2013", data=str(real_fer2013), epochs=1,
                        subsample_per_class=100, tta=False)
    tables = app_and_report_tables(run_dir, run_dir.parent, data_path=str(real_fer2013))
    assert len(tables) >= 10
    found = offences(tables, machine_keys(run_dir))
    assert found == [], "\n".join(found)


def test_accuracies_in_report_text_are_percentages(demo_run: Path):
    page = re.sub(r"<[^>]+>", " ", report.build_report([demo_run]))
    assert not re.search(r"accuracy:? 0\.\d", page, re.I)


def test_job_card_and_export_lines_name_metrics_in_words():
    line = metrics_text({"loss": 1.2345, "accuracy": 0.31, "val_loss": 1.5, "val_accuracy": 0.3})
    assert line == ("Training loss 1.2345 · Training accuracy 31.0% · Validation loss 1.5000"
                    " · Validation accuracy 30.0%")
    text = "\n".join(export_report.describe([judge(dict(ENTRY))]))
    assert not SNAKE.search(FILE.sub("", text)) and "4,462" in text


def test_export_names_the_view_count_beside_both_accuracies(demo_run: Path):
    frame = vocabulary.for_people(export_report.frame([judge(dict(ENTRY))]))
    assert "Accuracy (one view)" in frame.columns
    assert "ten views" in export_report.run_accuracy_text(runs.read_metrics(demo_run))


def test_text_formats_each_kind_of_value():
    text = vocabulary.text
    assert text("val_accuracy", 0.25431) == "25.4%"
    assert text("n", 4462) == "4,462"
    assert text("val_loss", 1.23456) == "1.2346"
    assert text("augment", True) == "on" and text("sweep", None) == "—"
    assert vocabulary.label("val_accuracy") == "Validation accuracy"
    assert vocabulary.label("batch_size") == "Batch size"
    frame = vocabulary.for_people(pd.DataFrame({"ece": [0.0312], "split": ["val"]}))
    assert list(frame.columns) == ["ECE", "Split"] and frame.iloc[0].tolist() == ["0.0312",
                                                                                 "validation"]


def test_the_fixture_run_has_the_keys_the_test_looks_for(demo_run: Path):
    keys = machine_keys(demo_run)
    assert {"val_accuracy", "macro_f1", "ece", "top1_agreement", "batch_size"} <= keys
    assert json.loads((demo_run / "metrics.json").read_text())["tta"] is True
