"""FER+ labels on a generated pair of CSVs: fer2013.csv (pixels) and fer2013new.csv (votes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_core import runs
from fer_core.core.config import preset
from fer_core.core.errors import ConfigError, DataError
from fer_core.data import drop_classes, load_dataset, merge_classes
from fer_core.data.ferplus import FERPLUS_FILE, apply_labels, majority_labels, read_votes
from fer_core.training.inputs import make_dataset, prepare_data

VOTE_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                "contempt", "unknown", "NF"]
# (Usage, image name, votes in VOTE_COLUMNS order) and what majority makes of each row.
ROWS: list[tuple[str, str, list[int], str | None]] = [
    ("Training", "fer0000000.png", [0, 10, 0, 0, 0, 0, 0, 0, 0, 0], "happy"),
    ("Training", "fer0000001.png", [6, 0, 0, 2, 0, 0, 0, 2, 0, 0], "neutral"),
    ("Training", "fer0000002.png", [0, 0, 0, 0, 1, 0, 0, 7, 2, 0], "contempt"),
    ("Training", "fer0000003.png", [5, 5, 0, 0, 0, 0, 0, 0, 0, 0], None),  # a tie
    ("Training", "fer0000004.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None),  # NF votes only
    ("Training", "fer0000005.png", [2, 0, 0, 0, 0, 0, 1, 0, 7, 0], None),  # unknown majority
    ("Training", "", [0, 9, 0, 0, 0, 0, 0, 0, 0, 1], None),  # no image name: no face
    ("Training", "fer0000007.png", [1, 0, 8, 0, 0, 0, 1, 0, 0, 0], "surprise"),
    ("PublicTest", "fer0000008.png", [0, 0, 0, 7, 3, 0, 0, 0, 0, 0], "sad"),
    ("PrivateTest", "fer0000009.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], None),  # no votes
]


def _pixels(rng: np.random.Generator) -> str:
    return " ".join(map(str, rng.integers(0, 256, size=48 * 48)))


def write_pair(folder: Path, rows: list[tuple[str, str, list[int]]], *,
               extra_votes: int = 0) -> Path:
    """fer2013.csv with one face per row and fer2013new.csv with the rows' votes (plus
    ``extra_votes`` rows, to mismatch the counts); returns fer2013.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pd.DataFrame({"emotion": [3] * len(rows), "pixels": [_pixels(rng) for _ in rows],
                  "Usage": [usage for usage, *_ in rows]}).to_csv(folder / "fer2013.csv",
                                                                   index=False)
    votes = [[usage, name, *counts] for usage, name, counts in rows]
    votes += [votes[0]] * extra_votes
    pd.DataFrame(votes, columns=["Usage", "Image name", *VOTE_COLUMNS]).to_csv(
        folder / FERPLUS_FILE, index=False)
    return folder / "fer2013.csv"


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    return write_pair(tmp_path / "fer", [row[:3] for row in ROWS])


def test_majority_labels_drops_ties_no_face_unknown_and_empty_rows(pair: Path) -> None:
    votes = read_votes(pair.parent / FERPLUS_FILE, n_rows=len(ROWS))
    assert list(votes.columns[:8]) == ["neutral", "happy", "surprise", "sad", "angry",
                                       "disgust", "fear", "contempt"]
    assert list(majority_labels(votes)) == [expected for *_, expected in ROWS]


def test_apply_labels_majority_relabels_by_row_order_with_contempt(pair: Path) -> None:
    ds = load_dataset(pair)
    assert set(ds.index["label"]) == {"happy"}  # the original CSV's code 3 on every row
    relabelled = apply_labels(ds, "majority")
    kept = [(f"fer2013.csv:{i + 2}", label) for i, (*_, label) in enumerate(ROWS) if label]
    assert list(zip(relabelled.index["id"], relabelled.index["label"], strict=True)) == kept
    assert relabelled.classes == ("contempt", "happy", "neutral", "sad", "surprise")
    assert relabelled.counts().loc["sad", "test"] == 1
    rows = [int(i.split(":")[1]) - 2 for i in relabelled.index["id"]]
    np.testing.assert_array_equal(relabelled.images, ds.images[rows])  # faces stay with rows
    assert not any(c.startswith("votes:") for c in relabelled.index.columns)


def test_apply_labels_votes_carries_distributions_that_follow_merges_and_drops(pair) -> None:
    data = prepare_data(preset("fast-cpu").replace(labels="votes", val_fraction=0.0),
                        load_dataset(pair))
    neutral_row = list(data.train.ids).index("fer2013.csv:3")
    expected = dict(zip(data.classes, data.train.targets[neutral_row], strict=True))
    assert expected == pytest.approx({"contempt": 0.2, "happy": 0, "neutral": 0.6, "sad": 0.2,
                                      "surprise": 0})
    assert data.classes[data.train.labels[neutral_row]] == "neutral"  # the label: majority
    ds = apply_labels(load_dataset(pair), "votes")
    merged = merge_classes(ds, {"contempt": "neutral"})
    data = prepare_data(preset("fast-cpu").replace(val_fraction=0.0), merged)
    row = list(data.train.ids).index("fer2013.csv:3")
    assert data.train.targets[row].tolist() == pytest.approx([0, 0.8, 0.2, 0])  # h, n, sad, s
    dropped = drop_classes(ds, ["contempt"])
    data = prepare_data(preset("fast-cpu").replace(val_fraction=0.0), dropped)
    row = list(data.train.ids).index("fer2013.csv:3")
    assert data.train.targets[row].tolist() == pytest.approx([0, 0.75, 0.25, 0])


def test_apply_labels_row_count_mismatch_names_both_counts(tmp_path: Path) -> None:
    csv = write_pair(tmp_path / "fer", [row[:3] for row in ROWS], extra_votes=2)
    with pytest.raises(DataError, match=r"fer2013new.csv has 12 rows but fer2013.csv has 10"):
        apply_labels(load_dataset(csv), "majority")


def test_apply_labels_without_ferplus_file_says_what_and_where(pair: Path) -> None:
    (pair.parent / FERPLUS_FILE).unlink()
    with pytest.raises(DataError, match=rf"needs fer2013new.csv beside fer2013.csv: "
                                        rf"{pair.parent / FERPLUS_FILE} does not exist"):
        apply_labels(load_dataset(pair), "votes")


def test_apply_labels_on_a_folder_data_set_asks_for_the_original_csv() -> None:
    with pytest.raises(DataError, match="labels=majority needs FER\\+ votes.*not a CSV"):
        apply_labels(load_dataset("demo"), "majority")
    assert apply_labels(load_dataset("demo"), "folder").classes[0] == "angry"


def test_labels_field_refuses_unknown_modes() -> None:
    with pytest.raises(ConfigError, match="labels must be one of folder, majority, votes"):
        preset("fast-cpu").replace(labels="soft")


@pytest.fixture(scope="module")
def trainable_pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 faces whose votes give a clear majority, plus the awkward rows of ROWS."""
    rows = [row[:3] for row in ROWS]
    for i in range(60):
        counts = [0] * 10
        counts[i % 8], counts[(i + 3) % 8] = 7, 3
        usage = "Training" if i < 44 else ("PublicTest", "PrivateTest")[i % 2]
        rows.append((usage, f"fer{i + 10:07d}.png", counts))
    return write_pair(tmp_path_factory.mktemp("ferplus"), rows)


@pytest.mark.slow
@pytest.mark.parametrize("labels", ["majority", "votes"])
def test_train_on_ferplus_labels_end_to_end(trainable_pair: Path, tmp_path: Path,
                                            labels: str) -> None:
    from fer_core.tasks.train import train

    config = preset("fast-cpu").replace(data=str(trainable_pair), labels=labels, epochs=1,
                                        batch_size=16, tta=False, tta_shift=0)
    data = prepare_data(config)
    assert len(data.classes) == 8 and "contempt" in data.classes
    batch_targets = next(iter(make_dataset(data.train, num_classes=8, batch_size=64,
                                           training=True)))[1].numpy()
    soft = ~np.isin(batch_targets, (0.0, 1.0)).all(axis=1)
    assert soft.any() if labels == "votes" else not soft.any()
    np.testing.assert_allclose(batch_targets.sum(axis=1), 1.0, rtol=1e-6)
    metrics = train(config, tmp_path / "run")
    assert runs.read_config(tmp_path / "run").data["classes"] == list(data.classes)
    predictions = runs.read_predictions(tmp_path / "run")
    test = predictions[predictions["split"] == "test"]
    majority = {f"fer2013.csv:{i + 2}": label for i, label in enumerate(
        majority_labels(read_votes(trainable_pair.parent / FERPLUS_FILE, n_rows=70)))}
    assert len(test) == metrics["test"]["n"] == 17  # ROWS' one clear test row and 16 more
    assert all(majority[row.id] == row.true for row in test.itertuples())
    assert metrics["test"]["accuracy"] == pytest.approx((test["true"] == test["pred"]).mean())
