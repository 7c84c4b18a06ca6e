"""A search's plan: the base recipe, the fields to vary with their ranges or choices, the
objective and the budget. Everything is checked here, before anything runs, with a message
that names the field; ``fer_core.tasks.search`` runs the plan with Optuna.

The ranges come from ``TrainConfig``'s field metadata (its bounds, choices and ``log`` flag), so
the Train page's Search tab, ``python -m fer_core search`` and a plan read back from a search's
folder all agree on what may be searched.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from fer_core.core.backbones import backbone_names
from fer_core.core.config import (
    FieldKind,
    TrainConfig,
    config_field,
    config_fields,
    field_label,
    parse_text,
)
from fer_core.core.errors import ConfigError

SEARCHABLE = (FieldKind.INT, FieldKind.FLOAT, FieldKind.CHOICE, FieldKind.BOOL,
              FieldKind.BACKBONE)
OBJECTIVES = ("val_accuracy", "val_macro_f1")  # the vocabulary's names; validation split's
PRUNE_STEPS = 10  # a trial is checked at every tenth of its budget
# Fields a search never varies: what is trained on and scored against, how long, how fast.
FIXED = frozenset({"data", "seed", "time_budget_min", "epochs", "finetune_epochs", "labels",
                   "val_fraction", "subsample_per_class", "deterministic", "mixed_precision",
                   "cache_features", "tta", "tta_shift"})


@dataclass(frozen=True)
class Dimension:
    """One field a search varies: a range (``low`` to ``high``, on a log scale when ``log``)
    or a set of ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def numeric(self) -> bool:
        return not self.choices

    @property
    def kind(self) -> FieldKind:
        return config_field(self.name).metadata["kind"]

    def describe(self) -> str:
        if self.choices:
            return " | ".join(str(c) for c in self.choices)
        return f"{self.low:g} to {self.high:g}" + (" (log)" if self.log else "")

    def contains(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        return isinstance(value, int | float) and self.low <= value <= self.high

    @property
    def conditional(self) -> bool:
        """Whether the field matters only for some recipes (``param(applies=...)``)."""
        return config_field(self.name).metadata.get("applies") is not None

    def applies(self, config: TrainConfig) -> bool:
        """Whether the field matters for this recipe (weight decay only with adamw or sgd)."""
        condition = config_field(self.name).metadata.get("applies")
        return condition is None or bool(condition(config))

    def check(self) -> None:
        f = config_field(self.name)
        meta, kind = f.metadata, f.metadata["kind"]
        label = field_label(f)
        if self.name in FIXED or kind not in SEARCHABLE:
            raise ConfigError(f"{label} ({self.name}) cannot be searched: a search varies numbers, "
                              "choices and switches of the recipe, not the data, the seed or "
                              "the schedule's length.")
        if self.choices:
            if len(set(self.choices)) < 2:
                raise ConfigError(f"{label}: give at least two different choices to search "
                                  f"(got {', '.join(map(str, self.choices)) or 'none'}).")
            for choice in self.choices:
                TrainConfig().replace(**{self.name: choice})  # the field's own check
            return
        if kind not in (FieldKind.INT, FieldKind.FLOAT):
            raise ConfigError(f"{label} is a choice: list its values (a,b), not a range.")
        if self.low is None or self.high is None or not self.low < self.high:
            raise ConfigError(f"{label}: the range {self.low} to {self.high} is empty; give a "
                              "low value below the high one.")
        bounds = (meta["low"], meta["high"])
        if (bounds[0] is not None and self.low < bounds[0]
                or bounds[1] is not None and self.high > bounds[1]):
            raise ConfigError(f"{label}: the range {self.low:g} to {self.high:g} leaves the "
                              f"field's own range, {bounds[0]:g} to {bounds[1]:g}.")
        if kind is FieldKind.INT and (self.low != int(self.low) or self.high != int(self.high)):
            raise ConfigError(f"{label} is a whole number: give whole bounds.")
        if self.log and self.low <= 0:
            raise ConfigError(f"{label}: a log-scale range must start above 0 (got "
                              f"{self.low:g}); give a positive low value, or a linear range.")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.choices:
            return {**out, "choices": list(self.choices)}
        return {**out, "low": self.low, "high": self.high, "log": self.log}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dimension:
        return cls(name=data["name"], low=data.get("low"), high=data.get("high"),
                   log=bool(data.get("log")), choices=tuple(data.get("choices") or ()))


def parse_dimension(text: str) -> Dimension:
    """``learning_rate=1e-4:1e-2`` (a range; ``:log`` or ``:linear`` after it overrides the
    field's scale), ``optimizer=adam,sgd`` (choices) or ``augment`` (a switch: both values)."""
    name, _, values = text.partition("=")
    name = name.strip()
    f = config_field(name)
    kind = f.metadata["kind"]
    if not values:
        if kind is FieldKind.BOOL:
            return Dimension(name, choices=(False, True))
        if kind in (FieldKind.CHOICE, FieldKind.BACKBONE):
            choices = f.metadata["choices"] if kind is FieldKind.CHOICE else backbone_names()
            return Dimension(name, choices=tuple(choices))
        return default_dimension(name)
    if ":" in values:
        low, high, *scale = values.split(":")
        if scale and scale[0] not in ("log", "linear"):
            raise ConfigError(f"{name}: a range's scale is log or linear; got {scale[0]!r}.")
        log = scale[0] == "log" if scale else f.metadata.get("log", False)
        return Dimension(name, low=_number(name, low), high=_number(name, high), log=log)
    return Dimension(name, choices=tuple(parse_text(name, v) for v in values.split(",")))


def default_dimension(name: str) -> Dimension:
    """The field's whole declared range, or its choices: the Search tab's starting point."""
    f = config_field(name)
    meta, kind = f.metadata, f.metadata["kind"]
    if kind is FieldKind.BOOL:
        return Dimension(name, choices=(False, True))
    if kind is FieldKind.CHOICE:
        return Dimension(name, choices=tuple(meta["choices"]))
    if kind is FieldKind.BACKBONE:
        return Dimension(name, choices=tuple(backbone_names()))
    low, high = meta["low"], meta["high"]
    if meta.get("log") and (low is None or low <= 0):
        low = (high or 1.0) / 1000  # three decades below the top: a log range needs low > 0
    return Dimension(name, low=low, high=high, log=bool(meta.get("log")))


def searchable_fields() -> list[str]:
    """The fields a search may vary, in the form's order."""
    return [f.name for f in config_fields()
            if f.metadata["kind"] in SEARCHABLE and f.name not in FIXED]


def suggested_dimension(name: str, base: TrainConfig) -> Dimension:
    """Where a search of ``name`` starts around the base recipe: a decade either side of its
    value on a log scale, half to twice it on a linear one (the field's whole range from 0),
    every choice; always inside the field's bounds."""
    whole = default_dimension(name)
    value = getattr(base, name)
    if whole.choices or not isinstance(value, int | float) or value <= 0:
        return whole
    low, high = (value / 10, value * 10) if whole.log else (value / 2, value * 2)
    if whole.kind is FieldKind.INT:
        low, high = max(int(low), 1), max(int(high), int(low) + 1)
    low, high = max(low, whole.low), min(high, whole.high)
    return Dimension(name, low=low, high=high, log=whole.log) if low < high else whole


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}: {text!r} is not a finite number.")
    return value


@dataclass(frozen=True)
class SearchPlan:
    """A whole search. ``trial_minutes`` is each trial's time budget (0: the base's own
    budget, or else its epochs); ``minutes`` and ``trials`` end the search, whichever first."""

    base: dict[str, Any]
    dimensions: tuple[Dimension, ...]
    objective: str = "val_accuracy"
    trial_minutes: float = 0.0
    minutes: float = 0.0
    trials: int = 0
    parallel: int = 1
    keep_models: int = 3
    seed: int = 0
    first: tuple[dict[str, Any], ...] = ()  # settings to try right after the base's
    preset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.base)

    @property
    def trial_budget_min(self) -> float:
        return self.trial_minutes or self.base_config.time_budget_min

    def trial_config(self, params: dict[str, Any]) -> TrainConfig:
        """The base recipe with a trial's values, on the trial's time budget."""
        return self.base_config.replace(**params, time_budget_min=self.trial_budget_min)

    def base_params(self) -> dict[str, Any]:
        """Trial 0: the base recipe's own values of the searched fields."""
        config = self.base_config
        return {d.name: getattr(config, d.name) for d in self.dimensions if d.applies(config)}

    def trials_that_fit(self) -> int | None:
        """How many trials the time allows (parallel trials at once), or ``None`` if only
        the trial count bounds it."""
        if not self.minutes or not self.trial_budget_min:
            return self.trials or None
        fit = int(self.minutes // self.trial_budget_min) * self.parallel
        return min(fit, self.trials) if self.trials else fit

    def check(self) -> SearchPlan:
        """Raise a ``ConfigError`` naming what is wrong, before anything runs."""
        base = self.base_config
        if not self.dimensions:
            raise ConfigError("A search needs at least one field to vary.")
        names = [d.name for d in self.dimensions]
        if len(set(names)) < len(names):
            raise ConfigError("Each field may be searched once; "
                              f"{', '.join(sorted({n for n in names if names.count(n) > 1}))} "
                              "is listed twice.")
        for dimension in self.dimensions:
            dimension.check()
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"The objective must be one of {', '.join(OBJECTIVES)}; got "
                              f"{self.objective!r}.")
        if base.val_fraction <= 0:
            raise ConfigError("A search scores each trial on the validation split: set the "
                              "validation share of train above 0.")
        if self.minutes < 0 or self.trials < 0 or self.trial_minutes < 0:
            raise ConfigError("Minutes and trials cannot be negative.")
        if not self.minutes and not self.trials:
            raise ConfigError("Give the search a total time (minutes) or a number of trials.")
        if self.minutes and not self.trial_budget_min:
            raise ConfigError("A search with a total time needs minutes per trial as well, so "
                              "it knows how many trials fit.")
        if self.minutes and self.minutes < self.trial_budget_min:
            raise ConfigError(f"The search's {self.minutes:g} minutes are too few for one trial "
                              f"of {self.trial_budget_min:g} minutes.")
        if not base.time_budget_min and not self.trial_minutes and base.epochs + (
                base.finetune_epochs) <= 0:
            raise ConfigError("Each trial needs epochs or minutes to train.")
        if self.parallel < 1 or self.keep_models < 1:
            raise ConfigError("Parallel trials and models kept must be at least 1.")
        for settings in (self.base_params(), *self.first):
            self.trial_config(settings)  # a first trial of unknown fields fails here
        return self

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["dimensions"] = [d.to_json() for d in self.dimensions]
        out["first"] = [dict(p) for p in self.first]
        out.update(out.pop("extra"))
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchPlan:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "extra"}
        values["dimensions"] = tuple(Dimension.from_json(d) for d in data.get("dimensions", []))
        values["first"] = tuple(data.get("first") or ())
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})
