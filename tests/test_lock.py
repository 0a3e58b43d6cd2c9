"""The lock file (constraints.txt) covers every dependency in pyproject.toml and is what the environment holds.

`make install` installs with ``-c constraints.txt``; `make lock` refreshes the file after pyproject.toml changes.
A dependency added to pyproject.toml without `make lock` fails here instead of installing unpinned.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from .conftest import require_installed

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"


def _name(requirement: str) -> str:
    """PEP 503 normalized project name of a requirement string."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not pinned with =="
        pins[_name(name)] = version.strip()
    return pins


def test_lock_pins_every_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    pins = _pins()
    missing = sorted({_name(r) for r in declared} - set(pins))
    assert not missing, f"not in constraints.txt (run `make lock`): {', '.join(missing)}"
    assert "attunexr" not in pins


def test_environment_has_the_locked_versions() -> None:
    pins = _pins()
    installed = {_name(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    if not set(pins) <= set(installed):
        require_installed(f"not installed: {sorted(set(pins) - set(installed))} (install with `make install`)")
    wrong = {n: (installed[n], v) for n, v in pins.items() if installed[n] != v}
    assert not wrong, f"installed != locked (run `make install`): {wrong}"
