"""Typed records of a run folder's ``config.json`` and ``status.json``, which stay flat JSON so
old run folders read as they are. Each keeps keys it does not know in ``extra`` and writes them
back, so a newer version's fields survive an older reader.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal, get_args

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[State, ...] = get_args(State)
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class _JsonView(Mapping[str, Any]):
    """A record read as the JSON object it was made from (``status["state"]``)."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @cached_property
    def _json(self) -> dict[str, Any]:
        return self.to_json()

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


def finite_number(value: Any) -> float | None:
    """A number as float, or None for anything else (text, bool, NaN): old files hold any."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    number = finite_number(value)
    return int(number) if number is not None else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, eq=False)
class Progress(_JsonView):
    """Where a running job is; every number checked, as a half-written old file may hold any."""

    phase: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    steps: int | None = None
    fraction: float | None = None
    eta_seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stage: str | None = None  # "evaluating" once the epochs are done; step/steps then count it

    @classmethod
    def from_json(cls, data: Any) -> Progress:
        data = data if isinstance(data, dict) else {}
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        counts = {name: _integer(data.get(name)) for name in ("phase", "epoch", "epochs", "step",
                                                              "steps")}
        shares = {name: finite_number(data.get(name)) for name in ("fraction", "eta_seconds")}
        metrics = {k: float(v) for k, v in metrics.items() if finite_number(v) is not None}
        stage = data.get("stage") if isinstance(data.get("stage"), str) else None
        return cls(**counts, **shares, metrics=metrics, stage=stage)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class BackendRef:
    """Which job backend runs the run, and how to reach its job there (Ray's address and id)."""

    name: str | None = None  # None: never recorded, which means local (older runs)
    address: str | None = None
    job_id: str | None = None
    gpus: float = 0
    cpus: float = 1
    node: str | None = None
    node_id: str | None = None
    final_state: str | None = None  # the backend's own word for how the job ended

    # The flat keys status.json has always used for these fields.
    KEYS = {"address": "ray_address", "job_id": "ray_job_id", "gpus": "ray_gpus",
            "cpus": "ray_cpus", "node": "ray_node", "node_id": "ray_node_id",
            "final_state": "ray_status"}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackendRef:
        values = {name: data.get(key) for name, key in cls.KEYS.items() if key in data}
        values["gpus"] = finite_number(values.get("gpus")) or 0
        values["cpus"] = finite_number(values.get("cpus")) or 1
        return cls(name=_text(data.get("backend")), **values)

    @property
    def kind(self) -> str:
        return self.name or "local"

    def to_json(self) -> dict[str, Any]:
        if self.name is None:
            return {}
        out: dict[str, Any] = {"backend": self.name}
        if self.job_id is not None:  # a backend with jobs of its own: how to reach this one
            out.update({key: getattr(self, name) for name, key in self.KEYS.items()
                        if getattr(self, name) is not None})
        return out


@dataclass(frozen=True, eq=False)
class Status(_JsonView):
    """``status.json``: the state of a run's job, its times, progress and backend."""

    state: State | None = None
    created: str | None = None
    updated: str | None = None
    queued: float | None = None  # epoch seconds: the queue's order
    started: str | None = None
    finished: str | None = None
    pid: int | None = None
    host: str | None = None
    error: str | None = None
    preset: str | None = None
    sweep: str | None = None
    resumed: int = 0
    cancel_requested: str | None = None
    display_name: str | None = None  # what the user calls the run; its folder id never changes
    note: str | None = None  # the user's note on the run
    rerun_of: str | None = None  # the run id whose settings this run repeats
    progress: Progress | None = None
    backend: BackendRef = field(default_factory=BackendRef)
    extra: dict[str, Any] = field(default_factory=dict)  # keys of newer versions, MLflow's

    @classmethod
    def from_json(cls, data: Any) -> Status:
        data = data if isinstance(data, dict) else {}
        backend = BackendRef.from_json(data)
        known = {*_STATUS_KEYS, "progress", "backend", *BackendRef.KEYS.values()}
        state = data.get("state")
        return cls(
            **{key: data.get(key) for key in _STATUS_KEYS if key not in ("state", "resumed")},
            state=state if state in STATES else None, resumed=_integer(data.get("resumed")) or 0,
            progress=Progress.from_json(data["progress"]) if data.get("progress") else None,
            backend=backend, extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in _STATUS_KEYS}
        out["resumed"] = self.resumed or None
        out["progress"] = self.progress.to_json() if self.progress else None
        out.update(self.backend.to_json())
        out.update(self.extra)
        return {key: value for key, value in out.items() if value is not None}

    @property
    def ended(self) -> bool:
        return self.state in FINAL_STATES


_STATUS_KEYS = tuple(f.name for f in fields(Status)  # status.json's flat keys
                     if f.name not in ("progress", "backend", "extra"))


@dataclass(frozen=True, eq=False)
class RunRecord(_JsonView):
    """``config.json``: the TrainConfig, its preset, the data set and the environment."""

    config: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        data = data if isinstance(data, dict) else {}
        blocks = {name: data.get(name) if isinstance(data.get(name), dict) else {}
                  for name in ("config", "data", "environment")}
        known = {"config", "preset", "data", "environment"}
        return cls(**blocks, preset=_text(data.get("preset")),
                   extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        blocks = {"data": self.data, "environment": self.environment}
        return {"config": self.config, "preset": self.preset,
                **{name: block for name, block in blocks.items() if block}, **self.extra}
