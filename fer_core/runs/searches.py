"""A search's folder, read: its plan, its summary (``search.json``, written by the search task
as trials end) and the frames its pages, report and command line draw. Optuna's own study file
lies beside them; nothing here needs Optuna, so a viewer reads a search it cannot run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from fer_core.core import atomic
from fer_core.core.config import TrainConfig
from fer_core.core.errors import RunError
from fer_core.core.search_space import SearchPlan
from fer_core.core.vocabulary import text
from fer_core.runs import task_folders

KIND = "search"
RECORD_KEY = "search"  # the block in a trial run's config.json: {"id", "trial", "params"}
SUMMARY_FILE = "search.json"
STUDY_FILE = "study.journal"  # Optuna's journal storage
STATES = ("complete", "pruned", "fail", "running", "waiting")  # Optuna's, in lower case
STATE_WORDS = {"complete": "finished", "pruned": "pruned", "fail": "failed",
               "running": "running", "waiting": "waiting"}


def summary_path(task_dir: Path) -> Path:
    return Path(task_dir) / SUMMARY_FILE


def read_summary(task_dir: Path) -> dict[str, Any] | None:
    """``search.json``, or ``None`` before the first trial was queued."""
    summary = atomic.read_json(summary_path(task_dir))
    return summary if isinstance(summary, dict) else None


def write_summary(task_dir: Path, summary: dict[str, Any]) -> None:
    atomic.write_json(summary_path(task_dir), summary)


def plan_of(task_dir: Path) -> SearchPlan:
    return SearchPlan.from_json(task_folders.read_task(task_dir).spec["plan"])


def spec(plan: SearchPlan) -> dict[str, Any]:
    """A search task's spec: its plan, checked."""
    return {"plan": plan.check().to_json()}


def best_config(task_dir: Path) -> TrainConfig:
    """The best trial's settings on the base recipe's own schedule (its epochs or budget):
    what **Train with these settings** launches."""
    best = (read_summary(task_dir) or {}).get("best")
    if not best:
        raise RunError(f"Search {Path(task_dir).name} has no finished trial yet.")
    return plan_of(task_dir).base_config.replace(**best["params"])


def search_folders(runs_root: Path | None = None) -> list[Path]:
    """Every search of the runs folder, newest first."""
    return [folder for folder in task_folders.task_folders(runs_root)
            if task_folders.read_task(folder).kind == KIND]


def trial_of(record_extra: dict[str, Any]) -> dict[str, Any] | None:
    """A run's search block (``{"id", "trial", "params"}``) when it is a trial, else ``None``."""
    block = record_extra.get(RECORD_KEY)
    return block if isinstance(block, dict) else None


def shown_params(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's settings as people read them: sampled numbers to three significant digits
    (0.000443, not 0.00044303752452182633); the run folder keeps the exact values."""
    return {k: float(f"{v:.3g}") if isinstance(v, float) else v for k, v in params.items()}


def trials_frame(summary: dict[str, Any], *, best_first: bool = False) -> pd.DataFrame:
    """One row per trial: number, state in words, the objective, each searched setting, run;
    in trial order, or ``best_first`` (trials without a score last)."""
    objective = summary.get("objective", "val_accuracy")
    rows = [{"trial": t["number"], "state": _state_text(t), objective: t.get("value"),
             **shown_params(t.get("params", {})), "run": t.get("run")}
            for t in summary.get("trials", [])]
    frame = pd.DataFrame(rows)
    if best_first and not frame.empty:
        frame = frame.sort_values(objective, ascending=False, na_position="last", kind="stable")
    return frame


def _state_text(trial: dict[str, Any]) -> str:
    words = STATE_WORDS.get(trial.get("state", ""), trial.get("state", ""))
    steps = [int(step) for step in trial.get("steps", {})]
    if trial.get("state") == "pruned" and steps:
        return f"{words} at {max(steps)}/10"
    return words


def progress_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """The objective of each ended trial in the order they ended, with the best so far:
    what the search's time bought."""
    ended = [t for t in summary.get("trials", []) if t.get("ended") and t.get("value") is not None
             and t.get("state") in ("complete", "pruned")]
    frame = pd.DataFrame([{"trial": t["number"], "state": STATE_WORDS[t["state"]],
                           "ended": pd.Timestamp(t["ended"]), "value": t["value"]}
                          for t in ended], columns=["trial", "state", "ended", "value"])
    if frame.empty:
        return frame.drop(columns="ended").assign(minutes=[], best=[])
    frame = frame.sort_values("ended", ignore_index=True)
    start = min(pd.Timestamp(t["started"]) for t in summary["trials"] if t.get("started"))
    frame["minutes"] = (frame["ended"] - start).dt.total_seconds() / 60
    finished = frame["value"].where(frame["state"] == "finished")
    frame["best"] = finished.cummax().ffill()
    return frame.drop(columns="ended")  # minutes say it; a time zone trips the charts


def parallel_frame(summary: dict[str, Any], plan: SearchPlan) -> pd.DataFrame:
    """Parallel coordinates, long: one row per trial and setting, its value placed between
    the range's ends (on a log scale where the range is), or among the choices."""
    rows = []
    for trial in summary.get("trials", []):
        if trial.get("state") not in ("complete", "pruned"):
            continue
        for dimension in plan.dimensions:
            if dimension.name not in trial.get("params", {}):
                continue
            value = trial["params"][dimension.name]
            shown = shown_params({dimension.name: value})[dimension.name]
            rows.append({"trial": trial["number"], "setting": dimension.name,
                         "position": _position(dimension, value),
                         "value": text(dimension.name, shown),
                         "objective": trial.get("value"),
                         "state": STATE_WORDS[trial["state"]]})
    return pd.DataFrame(rows, columns=["trial", "setting", "position", "value", "objective",
                                       "state"])


def _position(dimension: Any, value: Any) -> float:
    if dimension.choices:
        choices = list(dimension.choices)
        return choices.index(value) / max(len(choices) - 1, 1) if value in choices else 0.5
    low, high, value = float(dimension.low), float(dimension.high), float(value)
    if dimension.log:
        low, high, value = math.log10(low), math.log10(high), math.log10(max(value, 1e-30))
    return min(max((value - low) / (high - low), 0.0), 1.0)


def importance_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Optuna's parameter importances, largest first."""
    items = sorted((summary.get("importances") or {}).items(), key=lambda kv: -kv[1])
    return pd.DataFrame(items, columns=["setting", "importance"])


def counts(summary: dict[str, Any]) -> dict[str, int]:
    """How many trials are in each state."""
    found = [t.get("state") for t in summary.get("trials", [])]
    return {state: found.count(state) for state in STATES}
