"""The ``search`` task: Optuna chooses each trial's settings, the task system trains it.

    python -m fer_core search run --preset fast-cpu --vary learning_rate=1e-4:1e-2 \\
        --vary dropout=0.2:0.6 --trial-minutes 5 --minutes 60

The search is a coordinator: it asks Optuna (TPE, through ask/tell) for a trial's settings,
launches the trial as an ordinary training run on the search's own backend (the local queue, or
Ray, where trials run side by side), reads each trial's ``history.csv`` as it grows and reports
its validation accuracy at every tenth of the trial's budget to a median pruner, which stops
trials that fall behind. Trial 0 is the base recipe itself.

Why Optuna's ask/tell and not Ray Tune: trials stay runs of the one task system (queued,
followed, cancellable, shown in Results), on either backend unchanged; Ray Tune would run them
outside it. The study lives in the search's folder as Optuna's journal file, written by this
process only, so a search survives a restart: run again (``jobs retry``), it follows the trials
still running, queues again those that were killed, with the same settings, and never repeats
a finished one. ``search.json`` beside it is the summary pages read, without Optuna.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from fer_core import runs, tasks
from fer_core.core.config import FieldKind, TrainConfig
from fer_core.core.errors import ConfigError, RunError
from fer_core.core.search_space import PRUNE_STEPS, Dimension, SearchPlan
from fer_core.runs.actions import drop_model
from fer_core.runs.searches import RECORD_KEY, STUDY_FILE, read_summary, write_summary
from fer_core.tasks.local import runs_root_of
from fer_core.tasks.runner import TaskContext
from fer_core.training.resume import is_resumable

POLL_SECONDS = 2.0
MAX_ATTEMPTS = 2  # a trial whose run fails is queued once more with the same settings
FAILURES_TO_STOP = 3  # this many failed trials and none finished: the search stops
SUMMARY_EVERY_S = 10.0
SCORE_KEYS = {"val_accuracy": "accuracy", "val_macro_f1": "macro_f1"}  # in metrics["val"]
ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

log = logging.getLogger("fer_core.tasks")
# The median pruner judges a trial once two have finished (the base recipe is the first), and
# not before 3/10 of its budget: the first epoch's validation score, tracing included, says
# little about a recipe (SGD and small learning rates start slow), and pruning there cut good
# recipes on FER-2013.
STARTUP_TRIALS = 2
WARMUP_STEPS = 3


def open_study(task_dir: Path, plan: SearchPlan) -> optuna.Study:
    """The search's study, created on first use with the base recipe and ``plan.first``
    queued as its first trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(Path(task_dir) / STUDY_FILE)))
    sampler = optuna.samplers.TPESampler(seed=plan.seed, constant_liar=plan.parallel > 1)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS,
                                         n_warmup_steps=WARMUP_STEPS)
    study = optuna.create_study(study_name="search", storage=storage, sampler=sampler,
                                pruner=pruner, direction="maximize", load_if_exists=True)
    if not study.trials:
        for params in (plan.base_params(), *plan.first):
            study.enqueue_trial(params, skip_if_exists=True)
    return study


def suggest(trial: optuna.Trial, plan: SearchPlan) -> dict[str, Any]:
    """The trial's values: fields that always matter first, then those that matter only for
    some of those values (weight decay once the optimizer is chosen), and only then."""
    params: dict[str, Any] = {}
    for dimension in sorted(plan.dimensions, key=lambda d: d.conditional):
        if dimension.applies(plan.base_config.replace(**params)):
            params[dimension.name] = _suggest(trial, dimension)
    return params


def _suggest(trial: optuna.Trial, d: Dimension) -> Any:
    if d.choices:
        return trial.suggest_categorical(d.name, list(d.choices))
    if d.kind is FieldKind.INT:
        return trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
    return trial.suggest_float(d.name, d.low, d.high, log=d.log)


def steps_reached(history: Any, plan: SearchPlan, config: TrainConfig) -> list[tuple[int, float]]:
    """``(step, best validation accuracy so far)`` for each tenth of the trial's budget its
    epochs have passed: the trial's clock against its minutes, or its epochs against all."""
    history = history.dropna(subset=["val_accuracy"])
    if history.empty:
        return []
    if plan.trial_budget_min:
        done = history["seconds"].cumsum() / (plan.trial_budget_min * 60)
    else:
        done = (history.reset_index(drop=True).index + 1) / (config.epochs + config.finetune_epochs)
    reached: dict[int, float] = {}
    for share, best in zip(done, history["val_accuracy"].cummax(), strict=True):
        for step in range(1, min(int(share * PRUNE_STEPS), PRUNE_STEPS) + 1):
            reached.setdefault(step, float(best))
    return sorted(reached.items())


@dataclass
class Flight:
    """A trial whose run is queued or running."""

    trial: optuna.Trial
    run_dir: Path | None  # None: the search stopped between asking and launching
    params: dict[str, Any]
    attempts: int = 1
    pruned: bool = False
    reported: set[int] = field(default_factory=set)


def run_task(ctx: TaskContext) -> dict[str, Any]:
    return Search(ctx, SearchPlan.from_json(ctx.spec["plan"]).check()).run()


class Search:
    """One search's loop. All its state is in the study and the trial runs' folders, so a
    new process picks it up where the last one stopped."""

    def __init__(self, ctx: TaskContext, plan: SearchPlan) -> None:
        self.ctx, self.plan, self.task_dir = ctx, plan, Path(ctx.task_dir)
        self.root = runs_root_of(self.task_dir)
        self.backend = tasks.backend_of_run(self.task_dir)  # trials run where the search does
        self.study = open_study(self.task_dir, plan)
        self.spent_before = float((read_summary(self.task_dir) or {}).get("seconds", 0.0))
        self.started = time.monotonic()
        self.flights: dict[int, Flight] = {}
        self._summarised = 0.0
        self._importances: tuple[int, dict[str, float]] = (0, {})  # finished trials: values

    @property
    def seconds(self) -> float:
        """Search time, over every process that ran it."""
        return self.spent_before + time.monotonic() - self.started

    def run(self) -> dict[str, Any]:
        self.follow_unfinished()
        try:
            while not self.ctx.stop.requested:
                self.poll()
                self.stop_if_all_fail()
                while len(self.flights) < self.plan.parallel and self.may_start():
                    self.start_trial()
                if not self.flights:
                    break
                self.ctx.progress(*self.progress())
                self.write_summary()
                time.sleep(POLL_SECONDS)
        finally:
            if self.flights:  # stopped (or broken): the trials are queued again on resume
                self.interrupt()
            self.write_summary(force=True)
        return self.result()

    # --- trials ---------------------------------------------------------------------------

    def ended(self, *states: TrialState) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states or ENDED)

    def may_start(self) -> bool:
        if self.plan.trials and len(self.ended()) + len(self.flights) >= self.plan.trials:
            return False
        return not self.plan.minutes or (
            self.seconds + self.plan.trial_budget_min * 60 <= self.plan.minutes * 60)

    def start_trial(self) -> None:
        trial = self.study.ask()
        params = suggest(trial, self.plan)
        try:
            run_dir = self.launch(trial.number, params)
        except ConfigError as err:  # values that pass alone but not together
            trial.set_user_attr("error", str(err))
            self.study.tell(trial, state=TrialState.FAIL)
            return
        trial.set_user_attr("run", run_dir.name)
        self.flights[trial.number] = Flight(trial, run_dir, params)
        log.info("Trial %d queued as %s: %s", trial.number, run_dir.name, params)

    def launch(self, number: int, params: dict[str, Any]) -> Path:
        return tasks.launch(
            self.plan.trial_config(params), runs_root=self.root, preset=self.plan.preset,
            sweep=self.task_dir.name, backend=self.backend,
            display_name=f"{self.task_dir.name} trial {number}",
            record={RECORD_KEY: {"id": self.task_dir.name, "trial": number, "params": params}})

    def follow_unfinished(self) -> None:
        """After a restart: follow the trials still running; queue again, with the same
        settings, those whose runs were stopped or killed with the search."""
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial = optuna.Trial(self.study, frozen._trial_id)  # no public way from a number
            params = suggest(trial, self.plan)  # the values it was given, from the study
            run = frozen.user_attrs.get("run")
            run_dir = self.root / run if run else None
            state = runs.effective_state(runs.read_status(run_dir)) if run_dir else "missing"
            flight = Flight(trial, run_dir, params, reported=set(frozen.intermediate_values),
                            pruned=bool(frozen.user_attrs.get("pruned")))
            if flight.pruned or state in ("queued", "running", "succeeded"):
                self.flights[frozen.number] = flight
            else:
                self.retry(flight, fresh=state != "failed")

    def retry(self, flight: Flight, *, fresh: bool) -> None:
        """Queue the trial's run again: continued from its last epoch where it can be."""
        number = flight.trial.number
        if not fresh and flight.run_dir is not None and is_resumable(flight.run_dir):
            tasks.resume(flight.run_dir, backend=self.backend)
        else:
            flight.run_dir = self.launch(number, flight.params)
            flight.trial.set_user_attr("run", flight.run_dir.name)
        self.flights[number] = flight
        log.info("Trial %d queued again as %s.", number, flight.run_dir.name)

    def poll(self) -> None:
        for number, flight in list(self.flights.items()):
            state = tasks.refresh(flight.run_dir)
            self.report(flight)
            if state in runs.FINAL_STATES:
                del self.flights[number]
                self.finish(flight, state)

    def report(self, flight: Flight) -> None:
        """Tell the study each tenth of its budget the trial has passed, then ask the pruner;
        a pruned trial's later epochs (until its run stops) are not its record."""
        if flight.pruned:
            return
        new = [(step, value) for step, value in steps_reached(
            runs.read_history(flight.run_dir), self.plan, self.plan.trial_config(flight.params))
            if step not in flight.reported]
        for step, value in new:
            flight.trial.report(value, step)
            flight.reported.add(step)
        # At the last tenth the trial has trained all it will: it ends as finished.
        if new and max(flight.reported) < PRUNE_STEPS and not flight.pruned and (
                flight.trial.should_prune()):
            flight.pruned = True
            flight.trial.set_user_attr("pruned", True)  # a restart before its run ends knows
            log.info("Trial %d pruned at %d/%d of its budget.", flight.trial.number,
                     max(flight.reported), PRUNE_STEPS)
            tasks.cancel(flight.run_dir)

    def finish(self, flight: Flight, state: str) -> None:
        trial = flight.trial
        metrics = runs.read_metrics(flight.run_dir) or {}
        score = (metrics.get("val") or {}).get(SCORE_KEYS[self.plan.objective])
        if flight.pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        elif state == "succeeded" and score is not None:
            self.study.tell(trial, float(score))
        elif state == "failed" and flight.attempts < MAX_ATTEMPTS:
            flight.attempts += 1
            self.retry(flight, fresh=False)
            return
        else:
            error = runs.read_status(flight.run_dir).error or (
                "no validation score" if state == "succeeded" else f"its run was {state}")
            trial.set_user_attr("error", error)
            self.study.tell(trial, state=TrialState.FAIL)
        log.info("Trial %d ended: %s.", trial.number, self.study.trials[trial.number].state.name)
        self.keep_best_models()
        self.write_summary(force=True)

    def interrupt(self) -> None:
        for flight in self.flights.values():
            try:
                tasks.cancel(flight.run_dir)
            except RunError as err:
                log.warning("Trial %d's run could not be cancelled: %s", flight.trial.number, err)

    def stop_if_all_fail(self) -> None:
        failed = self.ended(TrialState.FAIL)
        if len(failed) < min(FAILURES_TO_STOP, self.plan.trials or FAILURES_TO_STOP):
            return
        if len(failed) < len(self.ended()):
            return
        errors = collections.Counter(t.user_attrs.get("error", "unknown") for t in failed)
        error, count = errors.most_common(1)[0]
        raise RunError(f"All {len(failed)} trials failed, so the search stopped; {count} of "
                       f"them with this error: {error}")

    def keep_best_models(self) -> None:
        """Only the best few finished trials keep their model files; runs stay readable."""
        ranked = sorted(self.ended(TrialState.COMPLETE), key=lambda t: t.value, reverse=True)
        keep = {t.number for t in ranked[:self.plan.keep_models]}
        for trial in self.ended():
            run = trial.user_attrs.get("run")
            if run and trial.number not in keep:
                drop_model(self.root / run)

    # --- what pages read --------------------------------------------------------------------

    def progress(self) -> tuple[float, str]:
        shares = [len(self.ended()) / self.plan.trials if self.plan.trials else 0.0,
                  self.seconds / (self.plan.minutes * 60) if self.plan.minutes else 0.0]
        best = self.best()
        text = f"{len(self.ended())} trials ended, {len(self.flights)} running"
        if best:
            text += f"; best {best['value']:.1%} (trial {best['number']})"
        return min(max(shares), 0.99), text

    def best(self) -> dict[str, Any] | None:
        complete = self.ended(TrialState.COMPLETE)
        if not complete:
            return None
        trial = max(complete, key=lambda t: t.value)
        return {"number": trial.number, "value": trial.value, "params": trial.params,
                "run": trial.user_attrs.get("run")}

    def write_summary(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._summarised < SUMMARY_EVERY_S:
            return
        self._summarised = time.monotonic()
        write_summary(self.task_dir, {
            "objective": self.plan.objective, "seconds": round(self.seconds, 1),
            "trials_that_fit": self.plan.trials_that_fit(), "best": self.best(),
            "importances": self.importances(),
            "trials": [self.trial_row(t) for t in self.study.get_trials(deepcopy=False)],
        })

    def trial_row(self, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        run = trial.user_attrs.get("run")
        return {
            "number": trial.number, "state": trial.state.name.lower(), "params": trial.params,
            "value": trial.value, "run": run, "error": trial.user_attrs.get("error"),
            "steps": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
            "started": _iso(trial.datetime_start), "ended": _iso(trial.datetime_complete),
            "model": bool(run) and runs.files(self.root / run).model.is_file(),
        }

    def importances(self) -> dict[str, float]:
        """Optuna's parameter importances (fANOVA); none until two trials finished. Computed
        again only when a trial finished: a forest of 64 trees is not free beside training."""
        finished = len(self.ended(TrialState.COMPLETE))
        if finished < 2 or finished == self._importances[0]:
            return self._importances[1]
        try:
            values = {k: float(v) for k, v in optuna.importance.get_param_importances(
                self.study, evaluator=optuna.importance.FanovaImportanceEvaluator(
                    seed=0)).items()}
        except (RuntimeError, ValueError):  # one value tried per field: nothing to compare
            values = {}
        self._importances = (finished, values)
        return values

    def result(self) -> dict[str, Any]:
        return {"best": self.best(), "seconds": round(self.seconds, 1),
                **{state.name.lower(): len(self.ended(state)) for state in ENDED}}


def _iso(moment: Any) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None
