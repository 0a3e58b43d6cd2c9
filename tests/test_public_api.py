"""Every attunexr package has a deliberate public surface, and no package reaches into another's private modules.

Like httpx, a package's modules are private (``_name.py``) and its ``__init__`` exports what others may use in
``__all__``. This test checks, for every package (and :mod:`attunexr.errors`):

- ``__all__`` exists, has no duplicates, and is sorted the way ``ruff`` (RUF022) sorts it: CONSTANTS, then
  Classes, then functions, each in natural order;
- every name in ``__all__`` exists, and every public name the package holds (other than submodules) is in
  ``__all__``: nothing leaks by accident;
- no module of one package imports a private module of another (``attunexr.a`` -> ``attunexr.b._x``), read from
  the import graph (grimp), with the known exceptions that pyproject's import-linter contract lists.

The import-linter contracts themselves (layers, no cycles, private modules) run in ``make lint``; the last test
runs them too, so ``make test`` alone also guards the architecture.
"""

from __future__ import annotations
import __future__

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import grimp
import pytest

import attunexr

ROOT = Path(__file__).resolve().parents[1]


def _packages() -> list[str]:
    """attunexr, its public (sub)packages, and attunexr.errors."""
    names = ["attunexr", "attunexr.errors"]
    for info in pkgutil.walk_packages(attunexr.__path__, "attunexr."):
        if info.ispkg and not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _ruff_key(name: str) -> tuple[int, list[int | str]]:
    """RUF022's isort-style order: SCREAMING_CASE, then CamelCase, then the rest; numbers in natural order."""
    if len(name) > 1 and name.upper() == name:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return kind, [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


PACKAGES = _packages()


def test_every_package_is_checked() -> None:
    for name in ("attunexr.recording", "attunexr.signals", "attunexr.features", "attunexr.models",
                 "attunexr.session", "attunexr.web", "attunexr.cli", "attunexr.io.datasets"):
        assert name in PACKAGES


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_complete_and_exact(name: str) -> None:
    mod = importlib.import_module(name)
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    exported = list(exported)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    assert exported == sorted(exported, key=_ruff_key), (
        f"{name}.__all__ is not sorted (ruff check --select RUF022 --fix sorts it)"
    )
    missing = [item for item in exported if not hasattr(mod, item)]
    assert not missing, f"{name}.__all__ lists names the package does not have: {missing}"
    public = {
        key
        for key, value in vars(mod).items()
        if not key.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    }
    assert public <= set(exported), f"{name} exposes names outside __all__: {sorted(public - set(exported))}"


def _allowed_private_imports() -> set[tuple[str, str]]:
    """The known exceptions, as listed in pyproject's private_modules contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    allowed: set[tuple[str, str]] = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "private_modules":
            for entry in contract.get("ignore_imports", []):
                importer, imported = (part.strip() for part in entry.split("->"))
                allowed.add((importer, imported))
    return allowed


def _package_of(module: str) -> str:
    """The package a module belongs to: the path up to its first private component (or the module itself)."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return module


def test_no_private_cross_package_imports() -> None:
    graph = grimp.build_graph("attunexr", cache_dir=None)
    allowed = _allowed_private_imports()
    bad = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            owner = _package_of(imported)
            if owner == imported:
                continue  # a public module
            if importer == owner or importer.startswith(owner + "."):
                continue  # inside the owning package
            if (importer, imported) not in allowed:
                bad.append(f"{importer} -> {imported}")
    assert not bad, "private modules imported from another package (export the names instead): " + ", ".join(bad)
    # the exceptions are still needed; a stale one hides nothing but must go
    present = {(a, b) for a, b in allowed if b in graph.find_modules_directly_imported_by(a)}
    assert present == allowed, f"stale ignore_imports entries: {sorted(allowed - present)}"


def test_import_contracts_hold() -> None:
    """``lint-imports`` over this checkout: layers, edges, no cycles, private modules (see pyproject)."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    run = subprocess.run(
        [sys.executable, "-c",
         "from importlinter.cli import lint_imports_command; lint_imports_command(['--no-cache', '--no-logo'])"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": path},
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
