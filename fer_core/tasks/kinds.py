"""The kinds of long work, and the one place a new kind is added.

Each kind has a lane of the local queue. Heavy kinds train (training runs, the suspect-labels
pass): one at a time per machine, in the order queued. Light kinds run beside them, at a lower
priority and on capped threads, so a page's export never waits an hour behind a training job.
Coordinators (a search) only queue other tasks and wait on them, for hours: a lane of their own
keeps them from holding up the light lane, and on Ray they reserve no CPU. To add a kind, write
``def run_task(ctx: TaskContext) -> dict`` (its result) in a module of ``fer_core.tasks`` and
add it to :data:`KINDS`; both backends then run it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from fer_core.core.errors import look_up

TRAIN = "train"
HEAVY, LIGHT, COORDINATOR = LANES = ("heavy", "light", "coordinator")


@dataclass(frozen=True)
class TaskKind:
    name: str
    entry: str  # "module:function"; empty for training, which runs `fer_core train`
    heavy: bool
    label: str  # what the job list calls it
    coordinator: bool = False  # it queues other tasks and waits on them

    @property
    def lane(self) -> str:
        return COORDINATOR if self.coordinator else HEAVY if self.heavy else LIGHT


KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (
    TaskKind(TRAIN, "", heavy=True, label="training"),
    TaskKind("suspects", "fer_core.tasks.suspects:run_task", heavy=True, label="suspect labels"),
    TaskKind("export", "fer_core.tasks.export:run_task", heavy=False, label="export"),
    TaskKind("video", "fer_core.tasks.video:run_task", heavy=False, label="video"),
    TaskKind("estimate", "fer_core.tasks.estimate:run_task", heavy=False, label="time estimate"),
    TaskKind("features", "fer_core.tasks.features:run_task", heavy=False, label="features and map"),
    TaskKind("search", "fer_core.tasks.search:run_task", heavy=False, label="search",
             coordinator=True),
)}


def register(kind: TaskKind) -> TaskKind:
    """Add a kind (a plug-in's, or a test's); the backends need no change to run it."""
    KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> TaskKind:
    return look_up(KINDS, name, "task kind", "kinds")
