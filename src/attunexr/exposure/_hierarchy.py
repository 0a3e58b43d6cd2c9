"""Exposure hierarchies as data: ordered levels of one scenario, each with the parameters a VR scene needs.

This is attunexr's one catalogue of scenario levels: the controller, the simulator and the clinician app's VR client
all read it (the client gets :meth:`Hierarchy.client_levels`). Heights levels carry ``floor``, ``height_m``,
``railing_distance_m`` and ``glass_floor``; spiders ``distance_m``, ``size_cm``, ``movement`` and ``count``; public
speaking ``audience_size``, ``attention`` and ``reactions``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from attunexr.errors import ConfigurationError, DataFormatError

__all__ = ["BUILTIN_HIERARCHIES", "Hierarchy", "Level", "load_hierarchy"]

logger = logging.getLogger(__name__)

#: Scenario hierarchies shipped with attunexr (JSON files in ``attunexr/exposure/hierarchies``).
BUILTIN_HIERARCHIES: tuple[str, ...] = ("heights", "spiders", "public_speaking")


@dataclass(frozen=True)
class Level:
    """One step of a hierarchy: ``index`` 0 is the least frightening, ``parameters`` drive the VR scene."""

    index: int
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hierarchy:
    """A scenario and its ordered levels (graded exposure, Wolpe 1958; Emmelkamp 2005 for VR).

    Parameters
    ----------
    name
        Scenario name (``"heights"``, ``"spiders"``, ``"public_speaking"`` ...).
    levels
        Levels in increasing order of difficulty; ``levels[i].index == i``.
    description
        Free text for the clinician.
    """

    name: str
    levels: tuple[Level, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.levels:
            raise ConfigurationError(f"hierarchy {self.name!r} has no levels; give at least one")
        for i, lv in enumerate(self.levels):
            if lv.index != i:
                raise ConfigurationError(f"hierarchy {self.name!r}: level {lv.name!r} has index {lv.index}, expected {i}")

    @property
    def max_index(self) -> int:
        return len(self.levels) - 1

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, i: int) -> Level:
        if not 0 <= i < len(self.levels):
            raise ConfigurationError(f"hierarchy {self.name!r} has levels 0..{self.max_index}, not {i}")
        return self.levels[i]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> Hierarchy:
        """Build from ``{"name":..., "levels":[{"name":..., "parameters":{...}}, ...]}``."""
        try:
            name = str(data["name"])
            raw_levels = data["levels"]
            levels = tuple(
                Level(i, str(lv["name"]), dict(lv.get("parameters", {}))) for i, lv in enumerate(raw_levels)
            )
        except (KeyError, TypeError) as err:
            raise DataFormatError(source, f"not a hierarchy: needs 'name' and 'levels' with a 'name' each ({err})") from err
        return cls(name, levels, str(data.get("description", "")))

    def client_levels(self) -> list[dict[str, Any]]:
        """The levels as the VR client receives them: ``{"name": ..., **parameters}`` per level, in order.

        The WebXR client builds its scene from these keys (see ``web/static/js/vr.js``); a custom hierarchy's
        parameters pass through unchanged.
        """
        return [{"name": lv.name, **lv.parameters} for lv in self.levels]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "levels": [{"name": lv.name, "parameters": dict(lv.parameters)} for lv in self.levels],
        }


def load_hierarchy(name_or_path: str | Path) -> Hierarchy:
    """Load a built-in hierarchy by name (see :data:`BUILTIN_HIERARCHIES`) or a JSON file by path."""
    if str(name_or_path) in BUILTIN_HIERARCHIES:
        text = resources.files("attunexr.exposure").joinpath(f"hierarchies/{name_or_path}.json").read_text()
        return Hierarchy.from_dict(json.loads(text), f"<builtin {name_or_path}>")
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigurationError(
            f"no hierarchy {str(name_or_path)!r}: use one of {list(BUILTIN_HIERARCHIES)} or a path to a JSON file"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"not valid JSON: {err}") from err
    return Hierarchy.from_dict(data, path)
