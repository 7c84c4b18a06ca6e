"""Refuse ``keras.Model.fit``: the fast tier (``pytest -m "not slow"``) trains no model.

Every FER Studio training, in the test process or in a job's process, goes through
``Model.fit``, so refusing it is the whole guard. It must reach child processes as well (a
test may launch a job, and the job trains), without a hook in FER Studio's own code: Python
imports a module named ``sitecustomize`` at start-up from ``sys.path``, so a child started
with this folder on ``PYTHONPATH`` loads this file before anything else. ``tests/conftest.py``
puts the folder there for each test not marked ``slow``, and loads this file in the test
process too, where it switches :data:`refusing` on and off per test.

Nothing heavy happens at start-up: Keras is patched when, and only if, something imports it.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from typing import Any

MODEL_MODULE = "keras.src.models.model"  # defines keras.Model, which every model inherits
MESSAGE = (
    "A test outside the slow tier fitted a Keras model. Read a committed run instead "
    "(the demo_run fixture, tests/fixtures/runs) or mark the test @pytest.mark.slow."
)
refusing = True  # a child process refuses always; the test process sets it per test


class FitRefusedError(RuntimeError):
    """Raised in place of ``keras.Model.fit`` while :data:`refusing`."""


def _guarded(fit: Any) -> Any:
    @functools.wraps(fit)
    def guarded_fit(*args: Any, **kwargs: Any) -> Any:
        if refusing:
            raise FitRefusedError(MESSAGE)
        return fit(*args, **kwargs)

    guarded_fit.fit_guard = True  # type: ignore[attr-defined]
    return guarded_fit


def _patch(module: Any) -> None:
    if not getattr(module.Model.fit, "fit_guard", False):
        module.Model.fit = _guarded(module.Model.fit)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Find Keras's model module as usual, and patch it as soon as it has run."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != MODEL_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                run(module)
                _patch(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Guard ``keras.Model.fit`` now if Keras is loaded, else the moment it is."""
    if MODEL_MODULE in sys.modules:
        _patch(sys.modules[MODEL_MODULE])
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


if __name__ == "sitecustomize":  # loaded at a child's start-up, not imported by conftest
    install()
