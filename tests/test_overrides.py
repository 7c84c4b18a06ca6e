"""Label overrides: stored per data set in the cache, copied into a run at launch, applied and
recorded by training, counted in the report; an overrides file of another data set is ignored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fer_core import runs, tasks
from fer_core.core.config import preset
from fer_core.core.errors import DataError, ReadOnlyError
from fer_core.data import load_dataset, overrides
from fer_core.runs.overrides import apply_for_run, run_summary
from tests.conftest import make_kaggle_tree, write_suspects

RANKED = ["train/sad/004.png", "train/happy/007.png", "train/happy/002.png"]  # most suspect first


class QueueOnly:
    """A backend that accepts the job and runs nothing: the test trains the run itself."""

    name = "local"
    description = "nowhere (test)"

    def submit(self, run_dir: Path) -> None:
        pass


@pytest.fixture
def tiny_data(tmp_path: Path, fresh_cache: Path):
    root = make_kaggle_tree(tmp_path / "tiny", {"happy": 12, "sad": 12})
    return load_dataset(root)


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_exclude_relabel_restore_write_the_cache_file_not_the_images(tiny_data) -> None:
    root = Path(tiny_data.location)
    before = _digests(root)
    overrides.exclude(tiny_data, "train/happy/000.png")
    overrides.relabel(tiny_data, "train/sad/001.png", "happiness")  # synonyms are understood
    overrides.relabel(tiny_data, "train/sad/002.png", "happy")
    overrides.restore(tiny_data, "train/sad/002.png")

    stored = json.loads(overrides.overrides_path(tiny_data.fingerprint).read_text())
    assert stored == {"fingerprint": tiny_data.fingerprint, "exclude": ["train/happy/000.png"],
                      "relabel": {"train/sad/001.png": "happy"}}
    assert _digests(root) == before
    applied, counts = overrides.apply(tiny_data, overrides.load(tiny_data.fingerprint))
    assert counts == {"excluded": 1, "relabelled": 1}
    assert len(applied) == len(tiny_data) - 1
    assert "train/happy/000.png" not in set(applied.index["id"])
    labels = applied.index.set_index("id")["label"]
    assert labels["train/sad/001.png"] == "happy" and labels["train/sad/000.png"] == "sad"


def test_relabel_to_a_class_the_data_lacks_or_an_unknown_image_is_refused(tiny_data) -> None:
    with pytest.raises(DataError, match="label must be one of happy, sad; got 'angry'"):
        overrides.relabel(tiny_data, "train/sad/001.png", "angry")
    with pytest.raises(DataError, match="image must be one of the data set's ids"):
        overrides.exclude(tiny_data, "train/sad/999.png")
    assert not overrides.load(tiny_data.fingerprint)


def test_read_only_viewer_cannot_change_overrides(tiny_data, monkeypatch) -> None:
    monkeypatch.setenv("FER_READ_ONLY", "1")
    with pytest.raises(ReadOnlyError, match="Changing label overrides is not allowed"):
        overrides.exclude(tiny_data, "train/happy/000.png")


def test_overrides_of_another_data_set_are_ignored_with_a_note(tiny_data, tmp_path) -> None:
    run_dir = runs.create_run({}, run_dir=tmp_path / "run")
    other = overrides.LabelOverrides("0123456789abcdef", exclude=("train/happy/000.png",))
    runs.files(run_dir).overrides.write_text(json.dumps(other.to_json()))

    applied = apply_for_run(run_dir, tiny_data)

    assert len(applied) == len(tiny_data)  # nothing excluded
    record = runs.read_config(run_dir).extra[overrides.RECORD_KEY]
    assert record["excluded"] == 0 and record["relabelled"] == 0
    assert "made for another data set" in record["ignored"]
    assert "ignored, not applied" in run_summary(runs.read_config(run_dir))


@pytest.mark.slow
def test_launch_copies_overrides_and_training_applies_and_records_them(tiny_data,
                                                                      tmp_path) -> None:
    from fer_core.reports.report import build_report
    from fer_core.tasks.train import train

    for image_id in ("train/happy/000.png", "train/happy/001.png", "train/sad/000.png"):
        overrides.exclude(tiny_data, image_id)
    overrides.relabel(tiny_data, "train/sad/001.png", "happy")
    config = preset("fast-cpu").replace(epochs=1, tta=False, tta_shift=0,
                                        data=tiny_data.location)
    run_dir = tasks.launch(config, runs_root=tmp_path / "runs", backend=QueueOnly())

    copied = json.loads(runs.files(run_dir).overrides.read_text())
    assert copied["fingerprint"] == tiny_data.fingerprint and len(copied["exclude"]) == 3
    overrides.exclude(tiny_data, "train/sad/003.png")  # after launch: not this run's business
    train(config, run_dir)

    record = runs.read_config(run_dir)
    applied = record.extra[overrides.RECORD_KEY]
    assert (applied["excluded"], applied["relabelled"]) == (3, 1)
    assert applied["relabel"] == {"train/sad/001.png": "happy"}
    sizes = record.data["sizes"]
    assert sizes["train"] + sizes["val"] == 24 - 3
    html = build_report([run_dir])
    assert "3 images excluded and 1 relabelled" in html


def test_benchmark_excludes_the_top_suspects_of_the_last_pass(tiny_data, tmp_path) -> None:
    from bench.budget import exclude_top_suspects

    with pytest.raises(DataError, match="no suspect labels yet"):
        exclude_top_suspects(tmp_path, tiny_data.location, 2)
    write_suspects(tiny_data.fingerprint, RANKED)
    run_dir = runs.create_run(preset("fast-cpu").to_dict(), run_dir=tmp_path / "run")

    assert exclude_top_suspects(run_dir, tiny_data.location, 2) == 2
    written, note = overrides.read_file(runs.files(run_dir).overrides, tiny_data.fingerprint)
    assert note is None and written.exclude == tuple(sorted(RANKED[:2]))
    assert overrides.load(tiny_data.fingerprint).exclude == ()  # the user's own choices stay
    assert exclude_top_suspects(run_dir, tiny_data.location, 10) == 3  # fewer were flagged


def test_command_excludes_the_most_suspect_and_undoes_it(tiny_data, capsys) -> None:
    from fer_core import cli

    data = ["--data", str(tiny_data.location)]
    assert cli.main(["data", "exclude-suspects", "--top", "2", *data]) == 2
    assert "no suspect labels yet" in capsys.readouterr().err
    write_suspects(tiny_data.fingerprint, RANKED)
    overrides.relabel(tiny_data, "train/happy/002.png", "sad")  # the third: not touched

    assert cli.main(["data", "exclude-suspects", "--top", "2", *data]) == 0
    assert "leave out 2 images and relabel 1" in capsys.readouterr().out
    chosen = overrides.load(tiny_data.fingerprint)
    assert chosen.exclude == tuple(sorted(RANKED[:2]))
    assert chosen.relabel == {"train/happy/002.png": "sad"}
    assert cli.main(["data", "exclude-suspects", "--top", "2", "--undo", *data]) == 0
    assert overrides.load(tiny_data.fingerprint).exclude == ()
