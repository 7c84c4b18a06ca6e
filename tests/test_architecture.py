"""Engine and views apart, and the engine in layers.

fer_core runs without the app, and views/ computes without Streamlit.

``fer_core`` (the engine: data, training, runs, jobs) must import no Streamlit, no Altair and
nothing of the app's ``ui`` or ``views``, so it trains from the command line, a job worker or a
notebook. ``views`` (what the pages show, as data and chart specs) must import no Streamlit, so
it is tested and reused without a browser. Imports are checked in a fresh interpreter, where
what a module pulls in transitively shows up in ``sys.modules``, and fer_core's sources are
also scanned, so an import inside a function is caught before it ever runs.

Inside the engine, each layer imports only itself and the layers below it (``LAYERS``, lowest
first), whether the import sits at the top of a module or inside a function, and no modules
import each other in a circle: a lazy import of our own code to dodge a cycle means the code is
in the wrong place. (A lazy import that keeps TensorFlow out of start-up is fine, as long as it
points down.) Imports under ``if TYPE_CHECKING:`` never run, so they count for layers only.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP_ONLY = ("streamlit", "altair", "ui", "views")
IMPORT = re.compile(rf"^\s*(?:import|from)\s+({'|'.join(APP_ONLY)})\b", re.MULTILINE)
# The engine's layers, lowest first; the package's own __init__ and __main__ sit above them all.
LAYERS = ("core", "data", "runs", "training", "inference", "reports", "export", "tracking",
          "tasks", "cli")


def modules(package: str) -> list[str]:
    """Every module of a package, sub-packages included (``__main__`` would run the CLI)."""
    root = REPO / package
    return sorted(
        ".".join((package, *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__")
        for path in root.rglob("*.py") if path.stem != "__main__"
    )


def loaded_after_importing(names: list[str]) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``names`` in a fresh process."""
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().splitlines()[-1].split())


def test_fer_core_modules_load_no_app_package() -> None:
    names = modules("fer_core")
    assert "fer_core.training.models" in names and "fer_core.runs" in names  # rglob found all
    assert not loaded_after_importing(names) & set(APP_ONLY)


def test_fer_core_sources_import_no_app_package() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {match.group(0).strip()}"
        for path in sorted((REPO / "fer_core").rglob("*.py"))
        for match in IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not offenders


def test_views_modules_load_no_streamlit() -> None:
    names = modules("views")
    assert "views.forms" in names and "views.explore" in names
    assert "streamlit" not in loaded_after_importing(names)


# --- the engine's layers -------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    """One import of our own code: who imports what, where, and whether it ever runs."""

    source: str  # the importing module
    target: str  # the module imported (a name imported from a module resolves to the module)
    where: str  # path:line, for the message
    typing_only: bool  # under ``if TYPE_CHECKING:``


def source_modules(root: Path, package: str = "fer_core") -> dict[str, Path]:
    """Module name -> file, for every module of ``package`` under ``root``."""
    return {".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
            for path in sorted((root / package).rglob("*.py"))}


def own_imports(root: Path, package: str = "fer_core") -> Iterator[Import]:
    """Every import of ``package``'s modules by its modules, at any depth of a function."""
    found = source_modules(root, package)

    def resolve(name: str) -> str:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name

    for module, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(node) for block in ast.walk(tree)
                       if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                       for statement in block.body for node in ast.walk(statement)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names
                           if alias.name.split(".")[0] == package]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package:
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in found
                           else resolve(node.module or "") for alias in node.names]
            else:
                continue
            for target in targets:
                if target != module:
                    yield Import(module, target, f"{path.relative_to(root)}:{node.lineno}",
                                 id(node) in typing_only)


def layer_of(module: str) -> int:
    """The module's place in ``LAYERS``; the package itself and ``__main__`` are on top."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] == "__main__":
        return len(LAYERS)
    if parts[1] not in LAYERS:
        raise AssertionError(f"{module} is in no layer: add its folder to LAYERS in the "
                             "order it may import, or move it into one.")
    return LAYERS.index(parts[1])


def upward_imports(root: Path) -> list[str]:
    return [f"{i.where}: {i.source} ({LAYERS[layer_of(i.source)]}) imports {i.target} "
            f"({LAYERS[layer_of(i.target)]}), a layer above it"
            for i in own_imports(root) if layer_of(i.target) > layer_of(i.source)]


def import_cycles(root: Path) -> list[list[str]]:
    """The modules that import each other in a circle (strongly connected components of the
    graph of imports that run, Tarjan's algorithm), each cycle sorted."""
    graph: dict[str, set[str]] = {module: set() for module in source_modules(root)}
    for i in own_imports(root):
        if not i.typing_only:
            graph[i.source].add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                cycles.append(sorted([node, *component]))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_engine_layers_import_only_downward() -> None:
    assert not upward_imports(REPO)


def test_engine_has_no_import_cycles() -> None:
    assert not import_cycles(REPO)


def test_every_engine_module_is_in_a_layer() -> None:
    for module in source_modules(REPO):
        layer_of(module)  # raises, naming the module, when its folder is no layer


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of the engine's sources to plant bad imports in."""
    import shutil

    shutil.copytree(REPO / "fer_core", tmp_path / "fer_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_planted_upward_import_is_caught(planted: Path) -> None:
    """An import inside a function counts: core may not reach up into training."""
    (planted / "fer_core" / "core" / "planted.py").write_text(
        "def build():\n    from fer_core.training.models import build_model\n"
        "    return build_model\n")
    found = upward_imports(planted)
    assert len(found) == 1 and "fer_core.core.planted (core) imports " \
        "fer_core.training.models (training)" in found[0]


def test_planted_cycle_is_caught(planted: Path) -> None:
    """Two modules of one layer that import each other, one of them lazily, are a cycle."""
    data = planted / "fer_core" / "data"
    (data / "planted_a.py").write_text("from fer_core.data import planted_b\n")
    (data / "planted_b.py").write_text("def f():\n    from fer_core.data import planted_a\n")
    assert import_cycles(planted) == [["fer_core.data.planted_a", "fer_core.data.planted_b"]]
