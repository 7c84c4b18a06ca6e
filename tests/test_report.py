"""The self-contained HTML report and the results table behind it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs
from fer_core.core.errors import RunError
from fer_core.data import load_dataset
from fer_core.reports import blocks, report

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?!data:|#)[^"'\s>]+|url\(|@import""",
                      re.IGNORECASE)


@pytest.fixture(scope="module")
def demo_images() -> tuple[dict[str, np.ndarray], str]:
    ds = load_dataset(None)
    return dict(zip(ds.index["id"], ds.images, strict=True)), ds.fingerprint


@pytest.fixture
def two_runs(tmp_path: Path, demo_run: Path) -> list[Path]:
    first = Path(shutil.copytree(demo_run, tmp_path / demo_run.name))
    second = Path(shutil.copytree(demo_run, tmp_path / "20260102-000000-second"))
    return [first, second]


def test_build_report_is_self_contained(two_runs, demo_images):
    images, fingerprint = demo_images

    page = report.build_report(two_runs, images, fingerprint=fingerprint)

    assert page.startswith("<!DOCTYPE html>")
    assert not EXTERNAL.findall(page)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page


def test_build_report_shows_runs_metrics_confusion_matrix_and_gallery(two_runs, demo_images):
    images, fingerprint = demo_images
    metrics = runs.read_metrics(two_runs[0])

    page = report.build_report(two_runs, images, fingerprint=fingerprint)

    for run_dir in two_runs:
        assert run_dir.name in page
    for split in ("val", "test"):
        assert f"{metrics[split]['accuracy']:.1%}" in page
    assert f"{metrics['test']['macro_f1']:.4f}" in page
    assert "Confusion matrix" in page
    angry = metrics["test"]["confusion_matrix"][0][0]
    assert f"true angry, predicted angry: {angry} " in page
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{40,}"', page)
    assert "Validation accuracy" in page  # the comparison of the two runs
    assert "Per-class report" in page


def test_build_report_without_images_explains_the_missing_gallery(two_runs):
    page = report.build_report(two_runs[:1])

    assert "<img" not in page
    assert "No gallery" in page


def test_build_report_other_data_set_gets_no_gallery(two_runs, demo_images):
    images, _ = demo_images

    page = report.build_report(two_runs[:1], images, fingerprint="another-data-set")

    assert "<img" not in page


def test_build_report_escapes_what_the_run_folder_says(two_runs):
    run_dir = two_runs[0]
    status = dict(runs.read_status(run_dir))
    status.update(state="failed", error="<script>alert('x')</script>")
    (run_dir / "status.json").write_text(json.dumps(status))

    page = report.build_report([run_dir])

    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_build_report_run_without_metrics_still_reports_it(two_runs):
    (two_runs[1] / "metrics.json").unlink()

    page = report.build_report(two_runs)

    assert two_runs[1].name in page
    assert "No metrics.json" in page


def test_build_report_no_runs_raises():
    with pytest.raises(RunError, match="at least one run"):
        report.build_report([])


def test_summary_table_takes_the_preset_from_config_json(two_runs):
    table = report.summary_table([runs.read_run(d) for d in two_runs])

    assert list(table["preset"]) == ["fast-cpu", "fast-cpu"]
    assert list(table.columns[:4]) == ["run", "state", "preset", "backbone"]


def test_metrics_table_has_an_overall_and_a_per_class_row_per_split(two_runs):
    metrics = runs.read_metrics(two_runs[0])

    table = report.metrics_table(metrics)

    n_classes = len(metrics["classes"])
    assert len(table) == 2 * (1 + n_classes)
    overall = table[(table["split"] == "test") & (table["class"] == "(all)")].iloc[0]
    assert overall["accuracy"] == pytest.approx(metrics["test"]["accuracy"])


def test_gallery_sample_mixes_confident_right_and_wrong_answers(two_runs):
    predictions = runs.read_predictions(two_runs[0])

    sample = blocks.gallery_sample(predictions, size=10)

    wrong = sample[sample["true"] != sample["pred"]]
    assert len(sample) == 10 and len(wrong) == 5
    assert set(sample["split"]) == {"test"}


def test_svg_line_chart_skips_missing_values_and_draws_the_rule():
    svg = blocks.svg_line_chart(
        [{"label": "a", "color": "#000", "x": [1, 2, 3], "y": [0.5, float("nan"), 0.7]}],
        title="t", x_label="epoch", y_label="accuracy", rules=[1.5],
    )

    assert svg.count("<circle") == 2
    assert 'class="rule"' in svg


def test_nice_ticks_cover_the_range_with_round_steps():
    assert blocks.nice_ticks(0.18, 0.31) == [0.15, 0.2, 0.25, 0.3, 0.35]
    assert blocks.nice_ticks(1, 2, integer=True) == [1.0, 2.0]
