"""Time budgets: a run is given minutes, and the speed it measures sets its epochs.

Speed depends on the host, so ``time_budget_min`` asks for time instead of epochs. The plan:

1. After a phase's first epoch, its duration fixes the epochs so that the schedule, and the
   evaluation after it, end at the budget.
2. The first epoch includes graph tracing: a quarter of the way, the epochs are fitted again.
3. Each change rescales the cosine schedule from where it stands (:class:`CosineMap`).
4. After the quarter, each epoch checks the plan against the last few epochs' speed, so a
   machine that gets busier (or quieter) still ends on time.

Two phases split the time as their epochs; the Keras side is ``budget_callback.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fer_core import runs
from fer_core.core.config import TrainConfig, config_field

MAX_EPOCHS = int(config_field("epochs").metadata["high"])
RECENT_EPOCHS = 4  # after the quarter, the speed is the mean of this many latest epochs
EVALUATION_OVERHEAD_S = 2.0  # reloading the best model, writing predictions and metrics
RECORD_KEY = "time_budget"  # config.json's block that says what the budget chose and why


@dataclass(frozen=True)
class Decision:
    """One choice of a phase's epoch count, with what it was based on."""

    phase: int
    after_epoch: int  # epochs of the phase done when it was chosen
    epochs: int  # the phase's new total
    epoch_seconds: float
    evaluation_seconds: float
    seconds_left: float  # until the phase's training had to end
    reason: str


def tta_view_count(config: TrainConfig) -> int:
    """How many views of each image evaluation predicts (see ``evaluation.tta_views``)."""
    return (2 if config.tta else 1) * (5 if config.tta_shift else 1)


def phase_one_share(config: TrainConfig) -> float:
    """Phase 1's share of the training time: the configured epochs say how to split it."""
    if config.finetune_epochs <= 0:
        return 1.0
    if config.epochs <= 0:
        return 0.0
    return config.epochs / (config.epochs + config.finetune_epochs)


def fit_epochs(*, done: int, seconds_left: float, epoch_seconds: float,
               high: int = MAX_EPOCHS) -> int:
    """A phase's total epochs: those done, and as many more as fit in ``seconds_left``,
    rounded so the run ends within half an epoch of its target either way."""
    more = math.floor(max(seconds_left, 0.0) / max(epoch_seconds, 1e-6) + 0.5)
    return int(min(max(done + more, done, 1), max(high, done)))


def steady_seconds(durations: list[float]) -> float:
    """A typical epoch's (or validation pass's) seconds: the first includes graph tracing, so
    it counts only while it is all there is."""
    if not durations:
        raise ValueError("steady_seconds needs at least one duration.")
    later = durations[1:] or durations
    return sum(later) / len(later)


def untraced_seconds(seconds_after_first_batch: float, batches: int) -> float | None:
    """A pass at the steady speed, from the time after its first batch (which traces the
    graph): the other batches' pace for all of them. ``None`` with a single batch."""
    if batches < 2:
        return None
    return seconds_after_first_batch * batches / (batches - 1)


def refit_epoch(planned: int) -> int:
    """The epoch of the phase after which the plan is fitted again: a quarter of the way, and
    never before the second epoch, the first without tracing."""
    return max(2, math.ceil(planned / 4))


@dataclass
class CosineMap:
    """Cosine decay (as Keras' ``CosineDecay``, alpha 0) whose length can change while it
    runs: :meth:`rescale` spreads the progress left over the new number of steps, so the rate
    never jumps and still reaches zero at the new last step."""

    base_lr: float
    total_steps: int
    anchor_step: int = 0
    anchor_progress: float = 0.0

    def progress(self, step: int) -> float:
        span = max(self.total_steps - self.anchor_step, 1)
        share = (step - self.anchor_step) / span
        return min(1.0, self.anchor_progress + (1.0 - self.anchor_progress) * share)

    def learning_rate(self, step: int) -> float:
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * self.progress(step)))

    def rescale(self, step: int, total_steps: int) -> None:
        """From ``step`` on, end at ``total_steps`` instead (at once, if that has passed)."""
        self.anchor_progress = self.progress(step) if total_steps > step else 1.0
        self.anchor_step = step
        self.total_steps = max(total_steps, step)


@dataclass
class BudgetPlanner:
    """The budget of one run; ``started`` and every ``now`` are ``time.monotonic()``."""

    seconds: float
    started: float
    share: float  # phase 1's share of the training time
    eval_images: int  # images evaluation predicts: (val + test) x test-time views
    training_started: float | None = None
    decisions: list[Decision] = field(default_factory=list)

    @classmethod
    def create(cls, config: TrainConfig, *, started: float, val_images: int,
               test_images: int) -> BudgetPlanner:
        return cls(seconds=config.time_budget_min * 60.0, started=started,
                   share=phase_one_share(config),
                   eval_images=(val_images + test_images) * tta_view_count(config))

    @property
    def ends(self) -> float:
        return self.started + self.seconds

    def evaluation_seconds(self, *, val_images: int, val_seconds: float | None,
                           tracing_seconds: float = 0.0) -> float:
        """What the final evaluation will take, from a steady validation pass: the same model
        and batch size on ``eval_images`` instead of ``val_images``, and traced anew."""
        if val_seconds is None or val_images <= 0:
            return EVALUATION_OVERHEAD_S
        return (self.eval_images * val_seconds / val_images + tracing_seconds
                + EVALUATION_OVERHEAD_S)

    def phase_end(self, phase: int, *, evaluation_s: float) -> float:
        """When the phase's training must end: phase 1 at its share of the training time."""
        training_ends = self.ends - evaluation_s
        if phase == 1 and self.share < 1.0 and self.training_started is not None:
            return self.training_started + self.share * (training_ends - self.training_started)
        return training_ends

    def plan(self, *, phase: int, done: int, now: float, durations: list[float],
             evaluation_s: float, reason: str, recent: int | None = None,
             current: int | None = None) -> Decision | None:
        """Fit the phase's epochs from the epochs timed so far (the ``recent`` latest only,
        if given), and remember why; ``None`` when that leaves ``current`` as it is."""
        epoch_s = steady_seconds(durations[-recent:] if recent else durations)
        left = self.phase_end(phase, evaluation_s=evaluation_s) - now
        epochs = fit_epochs(done=done, seconds_left=left, epoch_seconds=epoch_s)
        if epochs == current:
            return None
        decision = Decision(phase=phase, after_epoch=done, epochs=epochs,
                            epoch_seconds=round(epoch_s, 2),
                            evaluation_seconds=round(evaluation_s, 1),
                            seconds_left=round(left, 1), reason=reason)
        self.decisions.append(decision)
        return decision

    def chosen_epochs(self) -> dict[str, int]:
        """Each phase's last decided epoch count."""
        return {str(d.phase): d.epochs for d in self.decisions}

    def record(self) -> dict[str, Any]:
        return {"minutes": round(self.seconds / 60.0, 3), "epochs": self.chosen_epochs(),
                "decisions": [asdict(d) for d in self.decisions]}


def describe(decision: Decision) -> str:
    """One log line a user can check the plan against."""
    return (f"Time budget, phase {decision.phase}: {decision.epochs} epochs ({decision.reason}; "
            f"after epoch {decision.after_epoch}, {decision.epoch_seconds:.1f} s per epoch, "
            f"{decision.seconds_left:.0f} s left for training, evaluation about "
            f"{decision.evaluation_seconds:.0f} s).")


def write_record(run_dir: Path, planner: BudgetPlanner) -> None:
    """Keep the budget's choices in config.json, beside the config that asked for them."""
    record = runs.read_config(run_dir)
    runs.write_config(run_dir, replace(record, extra={**record.extra,
                                                      RECORD_KEY: planner.record()}))


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """What a budgeted run chose, or ``None`` for a run without a budget."""
    value = runs.read_config(run_dir).extra.get(RECORD_KEY)
    return value if isinstance(value, dict) else None
