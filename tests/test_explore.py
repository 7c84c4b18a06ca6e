"""The Explore page: its data functions, its charts, and the page itself through AppTest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fer_core.core.config import TrainConfig, config_fields
from fer_core.core.emotions import COLORS
from fer_core.core.errors import ConfigError, DataError
from fer_core.data import DataRef, load_dataset
from fer_core.data.audit import audit
from fer_core.data.loading import LoadReport
from tests.conftest import make_kaggle_tree, write_image
from tests.page_support import open_page
from views import data_charts, explore, forms

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "app_pages" / "explore.py")


@pytest.fixture(scope="module")
def demo():
    return load_dataset()


@pytest.fixture
def tiny(tmp_path: Path):
    """3 happy, 2 sad per split, plus one train image copied into test (a leak)."""
    root = make_kaggle_tree(tmp_path / "tiny", {"happy": 3, "sad": 2})
    write_image(root / "test" / "sad" / "leak.png", seed=1)  # seed 1 = train/happy/000.png
    return load_dataset(root)


def _spec(chart) -> dict:
    return chart.to_dict()


def _values(spec: dict) -> list[dict]:
    return next(iter(spec["datasets"].values()))


# --- distribution -------------------------------------------------------------------------------


def test_distribution_frame_demo_counts_match_ds_counts(demo):
    frame = explore.distribution_frame(demo)
    counts = demo.counts()
    assert len(frame) == len(counts.index) * len(counts.columns)
    for row in frame.itertuples():
        assert row.count == counts.at[row.label, row.split]
    shares = frame.groupby("split")["share"].sum()
    assert np.allclose(shares.to_numpy(), 1.0)
    train = frame[frame["split"] == "train"].set_index("label")
    assert train.at["disgust", "share"] == pytest.approx(42 / 2800)


def test_distribution_frame_class_missing_from_a_split_gets_zero(tmp_path):
    root = make_kaggle_tree(tmp_path / "d", {"happy": 2, "sad": 2})
    write_image(root / "train" / "angry" / "000.png", seed=99)
    frame = explore.distribution_frame(load_dataset(root))
    test_angry = frame[(frame["split"] == "test") & (frame["label"] == "angry")]
    assert test_angry["count"].tolist() == [0]
    assert test_angry["share"].tolist() == [0.0]
    assert list(dict.fromkeys(frame["label"])) == ["angry", "happy", "sad"]


def test_counts_table_pivots_with_total_and_train_share(demo):
    table = explore.counts_table(explore.distribution_frame(demo))
    assert list(table.columns) == ["train", "test", "total", "train share"]
    assert list(table.index) == list(demo.classes)
    assert table.at["happy", "total"] == 880
    assert table.at["happy", "train"] == demo.counts().at["happy", "train"]
    assert table["train share"].sum() == pytest.approx(1.0)


def test_dataset_caption_demo_names_set_size_and_splits(demo):
    caption = explore.dataset_caption(demo)
    assert "FER Studio synthetic demo" in caption
    assert "3,500 images" in caption
    assert "train 2,800 / test 700" in caption


# --- samples ------------------------------------------------------------------------------------


def test_sample_ids_same_seed_same_rows_other_seed_differs(demo):
    first = explore.sample_ids(demo, 5, seed=3)
    assert first == explore.sample_ids(demo, 5, seed=3)
    assert first != explore.sample_ids(demo, 5, seed=4)
    assert list(first) == list(demo.classes)
    for label, rows in first.items():
        assert len(rows) == 5 == len(set(rows))
        assert set(demo.index.loc[rows, "label"]) == {label}


def test_sample_ids_more_than_class_size_returns_whole_class(tiny):
    chosen = explore.sample_ids(tiny, 50, seed=0)
    assert {label: len(rows) for label, rows in chosen.items()} == {"happy": 6, "sad": 5}


def test_sample_ids_one_label_extends_the_all_classes_sample(demo):
    every = explore.sample_ids(demo, 4, seed=7)
    more = explore.sample_ids(demo, 16, seed=7, label="fear")
    assert list(more) == ["fear"]
    assert more["fear"][:4] == every["fear"]


def test_sample_ids_unknown_label_raises(demo):
    with pytest.raises(DataError, match="label must be one of"):
        explore.sample_ids(demo, 4, seed=0, label="bored")


def test_upscale_factor_two_repeats_each_pixel():
    image = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    assert explore.upscale(image, 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2],
                                                  [3, 3, 4, 4], [3, 3, 4, 4]]
    assert explore.upscale(np.zeros((5, 48, 48), np.uint8), 2).shape == (5, 96, 96)


def test_upscale_zero_factor_raises():
    with pytest.raises(DataError, match="factor"):
        explore.upscale(np.zeros((2, 2)), 0)


def test_captions_show_split_and_file_name(tiny):
    row = int(np.flatnonzero(tiny.index["id"] == "test/sad/leak.png")[0])
    assert explore.captions(tiny, [row]) == ["test · leak.png"]
    assert explore.captions(tiny, [row], with_label=True) == ["sad · test · leak.png"]


def test_class_rows_lists_every_image_of_the_class(demo):
    rows = explore.class_rows(demo, "disgust")
    assert len(rows) == 53
    assert set(demo.index.loc[rows, "label"]) == {"disgust"}


def test_class_rows_one_split_only_unless_the_class_is_absent_there(tmp_path):
    root = make_kaggle_tree(tmp_path / "c", {"happy": 2, "sad": 1})
    write_image(root / "test" / "angry" / "000.png", seed=77)
    ds = load_dataset(root)
    happy = explore.class_rows(ds, "happy", split="train")
    assert list(ds.index.loc[happy, "id"]) == ["train/happy/000.png", "train/happy/001.png"]
    assert list(ds.index.loc[explore.class_rows(ds, "angry", split="train"), "id"]) == [
        "test/angry/000.png"]


# --- load report --------------------------------------------------------------------------------


def test_load_report_helpers_count_and_list_problems():
    report = LoadReport(n_listed=10, n_loaded=8, converted_to_grey=3, resized=2,
                        skipped=[("train/sad/a.jpg", "not an image"), ("b", "truncated")],
                        ignored_files=[f"f{i}.txt" for i in range(7)],
                        empty_class_folders=["train/fear"])
    caption = explore.load_report_caption(report)
    assert "8 of 10 images loaded" in caption
    assert "3 converted to grey" in caption and "2 resized" in caption
    assert "2 skipped" in caption
    assert explore.skipped_frame(report).to_dict("records")[0] == {
        "file": "train/sad/a.jpg", "reason": "not an image"}
    notes = explore.load_report_notes(report)
    assert notes[0] == ("7 non-image files ignored (f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and "
                        "2 more).")
    assert notes[1] == "Class folder train/fear holds no images."


# --- image statistics and audit -----------------------------------------------------------------


def test_stat_histogram_counts_sum_to_class_sizes_and_shares_to_one(demo):
    stats = audit(demo.images, demo.index).stats
    hist = explore.stat_histogram(stats, "contrast", bins=16)
    assert len(hist) == 16 * len(demo.classes)
    sizes = hist.groupby("label")["count"].sum()
    assert sizes["happy"] == 880 and sizes["disgust"] == 53
    assert np.allclose(hist.groupby("label")["share"].sum().to_numpy(), 1.0)
    assert hist["bin_start"].min() == 0 and hist["bin_end"].max() == 128


def test_stat_histogram_values_outside_range_land_in_edge_bins():
    stats = pd.DataFrame({"label": ["a", "a"], "contrast": [-5.0, 500.0]})
    hist = explore.stat_histogram(stats, "contrast", bins=4)
    assert hist["count"].tolist() == [1, 0, 0, 1]


def test_stat_histogram_unknown_column_raises():
    with pytest.raises(DataError, match="column must be one of brightness, contrast"):
        explore.stat_histogram(pd.DataFrame({"label": []}), "sharpness")


def test_stat_summary_medians_per_class_in_class_order():
    stats = pd.DataFrame({"label": ["sad", "sad", "angry"], "brightness": [10.0, 30.0, 5.0],
                          "contrast": [1.0, 3.0, 7.0]})
    table = explore.stat_summary(stats, ("angry", "happy", "sad"))
    assert list(table.index) == ["angry", "sad"]
    assert table.loc["sad"].tolist() == [2, 20.0, 2.0]


def test_audit_findings_copy_across_splits_is_exact_group_and_leak(tiny):
    findings = {f.key: f for f in explore.audit_findings(audit(tiny.images, tiny.index))}
    assert list(findings) == ["blank", "exact", "near", "leakage"]
    assert findings["blank"].count == 0 and findings["blank"].rows == []
    assert findings["exact"].count == 1
    assert sorted(findings["exact"].examples[0]) == ["test/sad/leak.png", "train/happy/000.png"]
    assert findings["leakage"].count == 1
    assert findings["leakage"].examples == [["train/happy/000.png", "test/sad/leak.png"]]
    rows = findings["leakage"].rows[0]
    assert list(tiny.index.loc[rows, "id"]) == findings["leakage"].examples[0]
    assert np.array_equal(tiny.images[rows[0]], tiny.images[rows[1]])
    assert "1 groups carry conflicting labels" in findings["exact"].explanation


# --- augmentation controls ----------------------------------------------------------------------


def test_augmentation_controls_follow_trainconfig_metadata():
    controls = {c.name: c for c in explore.augmentation_controls()}
    group = [f.name for f in config_fields() if f.metadata["group"] == "augmentation"]
    assert list(controls) == [n for n in group if n not in ("augment", "mixup")]
    defaults = TrainConfig()
    for name, control in controls.items():
        assert control.default == getattr(defaults, name)
        assert control.kind.python_type is type(getattr(defaults, name))
    assert (controls["rotation"].low, controls["rotation"].high) == (0.0, 180.0)
    assert controls["rotation"].step == 1.0 and controls["zoom"].step == 0.01
    assert controls["random_crop"].step == 1
    assert controls["horizontal_flip"].label == "Horizontal flip"
    assert (controls["rotation"].format, controls["zoom"].format) == ("%g", "%g")
    assert controls["rotation"].slider and controls["rotation"].help == "Random rotation, up to " \
        "this many degrees."  # a slider shows its range: the help does not repeat it


def test_preview_config_turns_augment_on_and_sets_values():
    config = explore.preview_config({"rotation": 45.0, "horizontal_flip": False})
    assert config.augment is True
    assert (config.rotation, config.horizontal_flip) == (45.0, False)
    assert config.zoom == TrainConfig().zoom


def test_preview_config_out_of_range_or_unknown_raises():
    with pytest.raises(ConfigError, match="rotation must be between 0 and 180"):
        explore.preview_config({"rotation": 500.0})
    with pytest.raises(DataError, match="got mixup"):
        explore.preview_config({"mixup": 0.2})


def test_split_control_val_fraction_has_default_and_range():
    control = explore.split_control()
    assert (control.default, control.low, control.high) == (0.2, 0.0, 0.5)
    assert (control.label, control.step) == ("Validation share of train", 0.05)
    with pytest.raises(ConfigError, match="Unknown config field 'nope'"):
        forms.field_spec("nope")


# --- validation split ---------------------------------------------------------------------------


def test_split_preview_carves_stratified_val_from_train(demo):
    frame = explore.split_preview(demo, 0.25, seed=0)
    table = explore.counts_table(frame)
    assert list(table.columns)[:3] == ["train", "val", "test"]
    before = demo.counts()
    assert (table["train"] + table["val"]).tolist() == before["train"].tolist()
    assert table["test"].tolist() == before["test"].tolist()
    assert table["val"].sum() == 700
    val = frame[frame["split"] == "val"].set_index("label")["share"]
    train = frame[frame["split"] == "train"].set_index("label")["share"]
    assert np.allclose(val, train, atol=0.005)  # stratified: the same class mix


def test_split_preview_zero_fraction_or_own_val_changes_nothing(demo, tmp_path):
    assert explore.split_preview(demo, 0.0, seed=0).equals(explore.distribution_frame(demo))
    root = make_kaggle_tree(tmp_path / "v", {"happy": 2, "sad": 2},
                            splits=("train", "val", "test"))
    ds = load_dataset(root)
    assert explore.split_preview(ds, 0.3, seed=1).equals(explore.distribution_frame(ds))


# --- charts -------------------------------------------------------------------------------------


def test_class_distribution_chart_facets_splits_and_colours_classes(demo):
    frame = explore.distribution_frame(demo)
    spec = _spec(data_charts.class_distribution_chart(frame))
    assert spec["facet"]["column"]["field"] == "split"
    assert spec["facet"]["column"]["sort"] == ["train", "test"]
    assert spec["resolve"]["scale"]["y"] == "independent"
    encoding = spec["spec"]["encoding"]
    assert (encoding["x"]["field"], encoding["y"]["field"]) == ("label", "count")
    assert encoding["color"]["scale"]["domain"] == list(demo.classes)
    assert encoding["color"]["scale"]["range"] == [COLORS[c] for c in demo.classes]
    assert [t["field"] for t in encoding["tooltip"]] == ["split", "label", "count", "share"]
    values = _values(spec)
    assert len(values) == 14
    assert {"split": "train", "label": "disgust", "count": 42}.items() <= values[1].items()


def test_class_distribution_chart_one_split_has_no_facet(demo):
    frame = explore.distribution_frame(demo.split("test"))
    spec = _spec(data_charts.class_distribution_chart(frame))
    assert "facet" not in spec
    assert spec["title"] == "test"
    assert spec["mark"]["type"] == "bar"


def test_stat_distribution_chart_lines_per_class_with_share(demo):
    stats = audit(demo.images, demo.index).stats
    hist = explore.stat_histogram(stats, "brightness", bins=8)
    spec = _spec(data_charts.stat_distribution_chart(hist, "brightness"))
    assert spec["mark"]["type"] == "line"
    encoding = spec["encoding"]
    assert (encoding["x"]["field"], encoding["y"]["field"]) == ("bin_mid", "share")
    assert encoding["color"]["scale"]["range"] == [COLORS[c] for c in demo.classes]
    assert spec["title"] == "Brightness"
    assert len(_values(spec)) == 8 * 7


def test_split_chart_offsets_splits_within_each_class(demo):
    frame = explore.split_preview(demo, 0.2, seed=0)
    spec = _spec(data_charts.split_chart(frame))
    encoding = spec["encoding"]
    assert encoding["xOffset"]["field"] == "split"
    assert encoding["color"]["scale"]["domain"] == ["train", "val", "test"]
    assert encoding["y"]["field"] == "share"
    assert len(_values(spec)) == 21


# --- the page (AppTest) -------------------------------------------------------------------------


def _page(tmp_path: Path, data_path: str | None = None, section: str | None = None) -> AppTest:
    state = {"explore.section": section} if section else {}
    return open_page("explore", tmp_path / "runs", data_path=data_path, **state).run()


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "info", "caption", "warning", "error")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def _image_urls(at: AppTest) -> list[str]:
    return [url for element in at.image for url in element.value]


def test_page_demo_shows_callout_chart_table_and_synthetic_notice(tmp_path):
    at = _page(tmp_path)
    assert not at.exception
    assert at.title[0].value == "Explore"
    text = _texts(at)
    assert "disgust is 1.5% of train, happy 25.1%" in text
    assert "Synthetic demo data" in text
    assert "3,500 of 3,500 images loaded" in text
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    assert '"facet"' in charts[0].proto.spec
    table = at.dataframe[0].value.set_index("Class")
    assert table.loc["happy", "Train"] == "704"


def test_page_samples_tab_shows_per_class_images_with_captions(tmp_path):
    at = _page(tmp_path, section="Samples")
    assert not at.exception
    assert len(at.image) == 7
    assert all(len(element.value) == 6 for element in at.image)
    assert at.image[0].captions[0].startswith(("train · ", "test · "))
    at.slider(key="explore.per_class").set_value(3).run()
    assert all(len(element.value) == 3 for element in at.image)


def test_page_reshuffle_changes_shown_samples(tmp_path):
    at = _page(tmp_path, section="Samples")
    before = _image_urls(at)
    at.button(key="explore.reshuffle").click().run()
    assert not at.exception
    assert at.session_state["explore.seed"] == 1
    after = _image_urls(at)
    assert len(after) == len(before) == 42
    assert after != before


def test_page_one_class_shows_more_of_it(tmp_path):
    at = _page(tmp_path, section="Samples")
    at.selectbox(key="explore.class").set_value("disgust").run()
    assert not at.exception
    assert len(at.image) == 1
    assert len(at.image[0].value) == 24
    assert "**disgust** · 24 of 53 images" in _texts(at)


def test_page_bad_folder_shows_error_with_layout_hint(tmp_path):
    write_image(tmp_path / "bad" / "train" / "hapy" / "000.png")
    at = _page(tmp_path, data_path=str(tmp_path / "bad"))
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "'hapy' looks like a misspelling of 'happy'" in message
    assert "Expected a folder laid out like the Kaggle FER-2013 download" in message
    assert not at.get("tab_container")


def test_page_tiny_kaggle_tree_counts_and_quality_findings(tmp_path, tiny):
    at = _page(tmp_path, data_path=tiny.location)
    assert not at.exception
    assert "Synthetic demo data" not in _texts(at)
    assert at.dataframe[0].value.set_index("Class")["Train"].to_dict() == {"happy": "3",
                                                                            "sad": "2"}
    at.session_state["explore.section"] = "Image quality"
    at.run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2
    labels = [e.label for e in at.expander]
    assert "Train/test leakage: 1" in labels and "Exact duplicate groups: 1" in labels
    assert "1 of 6 test images (16.7%) have an exact or near copy" in _texts(at)
    leak_captions = [c for element in at.image for c in element.captions]
    assert "sad · test · leak.png" in leak_captions


def test_page_load_report_counts_conversions_and_lists_skipped_files(tmp_path):
    root = make_kaggle_tree(tmp_path / "mixed", {"happy": 2, "sad": 2})
    write_image(root / "train" / "sad" / "colour.png", seed=50, size=64, mode="RGB")
    (root / "train" / "happy" / "broken.png").write_bytes(b"not a png")
    at = _page(tmp_path, data_path=str(root))
    assert not at.exception
    text = _texts(at)
    assert "9 of 10 images loaded" in text
    assert "1 converted to grey · 1 resized to 48x48 · 1 skipped" in text
    assert [e.label for e in at.expander] == ["Skipped files (1)"]
    skipped = at.dataframe[0].value
    assert skipped["File"].tolist() == ["train/happy/broken.png"]


def test_page_split_tab_shows_val_counts_from_the_slider(tmp_path):
    at = _page(tmp_path, section="Validation split")
    assert not at.exception
    def validation() -> int:
        return sum(int(n.replace(",", "")) for n in at.dataframe[0].value["Validation"])

    assert validation() == 560  # 20% of 2,800
    at.slider(key="explore.val_fraction").set_value(0.5).run()
    assert validation() == 1400
    assert '"xOffset"' in at.get("vega_lite_chart")[0].proto.spec


def test_page_augmentation_tab_draws_from_the_config_controls(tmp_path):
    at = _page(tmp_path, section="Augmentation")
    assert not at.exception
    keys = {w.key for w in at.slider} | {w.key for w in at.checkbox}
    assert {f"explore.aug.{c.name}" for c in explore.augmentation_controls()} <= keys
    assert at.slider(key="explore.aug.rotation").value == TrainConfig().rotation
    images = at.image[0]
    assert len(images.value) == 7
    assert images.captions[:2] == ["original", "draw 1"]
    first = images.value
    at.button(key="explore.aug_redraw").click().run()
    assert at.image[0].value[0] == first[0]  # the original stays
    assert at.image[0].value[1:] != first[1:]


def test_page_augmentation_reset_restores_training_defaults(tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["app.data"] = DataRef()
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.session_state["explore.section"] = "Augmentation"
    at.session_state["explore.aug_n"] = 2
    at.run()
    at.slider(key="explore.aug.zoom").set_value(0.3).run()
    assert at.slider(key="explore.aug.zoom").value == pytest.approx(0.3)
    at.button(key="explore.aug_reset").click().run()
    assert not at.exception
    assert at.slider(key="explore.aug.zoom").value == pytest.approx(TrainConfig().zoom)


def test_app_explore_page_runs_through_the_navigation(tmp_path):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.run()
    at.switch_page("app_pages/explore.py").run()
    assert not at.exception
    assert at.title[0].value == "Explore"
    assert "disgust is 1.5% of train" in _texts(at)


@pytest.mark.slow
def test_page_real_fer2013_shows_imbalance_and_audit(tmp_path, real_fer2013):
    at = _page(tmp_path, data_path=str(real_fer2013))
    assert not at.exception
    assert "disgust is 1.5% of train, happy 25.1%" in _texts(at)
    at.session_state["explore.section"] = "Image quality"
    at.run()
    assert not at.exception
    assert any(label.startswith("Train/test leakage: ") for label in
               (e.label for e in at.expander))


def test_explore_modules_never_import_streamlit():
    for module in (explore, data_charts):
        source = Path(module.__file__).read_text()
        assert "import streamlit" not in source
