"""The Start page's steps, worded from what the user has: their data and their runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from fer_core.data import DataRef
from fer_core.runs import RunInfo

DEMO_HINT = ("You are on the **synthetic demo data**: cartoon faces, there so every page works "
             "at once. For real results, download FER-2013 (Kaggle, the folder layout) and "
             "point the sidebar's **Data** at it, or upload its .zip.")


@dataclass(frozen=True)
class Step:
    """One step: the page it opens, and a sentence that says why now."""

    page: str
    title: str
    icon: str
    text: str
    query_params: dict[str, str] = field(default_factory=dict)


def newest_succeeded(infos: list[RunInfo]) -> RunInfo | None:
    """The newest finished run (listings come newest first)."""
    return next((info for info in infos if info.state == "succeeded"), None)


def steps(data_ref: DataRef, infos: list[RunInfo]) -> list[Step]:
    """Explore, Train, Results, Predict; the Results step links to the newest finished run."""
    data = DEMO_HINT if data_ref.is_demo else f"Your data: `{data_ref}`."
    done = newest_succeeded(infos)
    if done is None:
        results = ("Once a job has finished: learning curves, the confusion matrix, the faces "
                   "each model gets wrong, and an HTML report to share.")
        link: dict[str, str] = {}
    else:
        results = (f"Your newest finished run is **{done.run_id}**: its curves, confusion "
                   "matrix, mistakes, and an HTML report to share.")
        link = {"runs": done.run_id}
    return [
        Step("app_pages/explore.py", "1. Explore the data", ":material/insights:",
             f"Class balance, sample faces, image quality and what augmentation does. {data}"),
        Step("app_pages/train.py", "2. Train a model", ":material/model_training:",
             "Pick a preset (**fast-cpu** reaches about 62% on FER-2013 in about 30 minutes on 2 "
             "CPU cores; a few minutes on the demo data) and press **Launch**. The job runs in the "
             "background; its card shows progress and the time left."),
        Step("app_pages/results.py", "3. Read the results", ":material/leaderboard:", results,
             link),
        Step("app_pages/predict.py", "4. Predict", ":material/face:",
             "Upload a photo or take one: faces are found, cropped and classified by a "
             "trained run."),
    ]
