"""Data objects that flow out of a live session: state estimates, commands, updates for hooks."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attunexr.errors import ConfigurationError

if TYPE_CHECKING:
    from attunexr.features import Cue, CueResponse
    from attunexr.recording import Event
    from attunexr.session._live import LiveSession

__all__ = ["COMMANDS", "Command", "SessionUpdate", "StateEstimate"]

#: Commands a VR client must understand (see docs/vr-protocol.md).
COMMANDS = ("set_level", "pause", "resume", "prompt_suds", "end")
_ids = itertools.count(1)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class StateEstimate:
    """A detector estimate as the session publishes it, with the window's signal quality.

    Attributes
    ----------
    t_end
        End of the feature window on the session clock.
    probability, lower, upper
        Calibrated probability of the state and its uncertainty band.
    abstained, reason
        ``abstained`` is ``True`` when the estimate must not drive any decision; ``reason`` says why.
    model
        Detector name.
    quality
        Quality columns of the window (``q_cardiac`` ..., ``quality_ok``).
    contributions
        Per-feature contributions (explanation).
    latency_ms
        Time from the arrival of the chunk that completed the window to publication.
    """

    t_end: float
    probability: float
    lower: float
    upper: float
    abstained: bool
    reason: str
    model: str
    quality: dict[str, float] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    trigger: float | None = None

    def to_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "v": 1,
            "type": "estimate",
            "t": self.t_end,
            "probability": _num(self.probability),
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "abstained": self.abstained,
            "reason": self.reason,
            "model": self.model,
            "quality": {k: _num(v) for k, v in self.quality.items()},
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.trigger is not None:
            msg["trigger"] = self.trigger
        return msg


@dataclass
class Command:
    """A command for the VR client (``set_level``, ``pause``, ``resume``, ``prompt_suds``, ``end``).

    Parameters
    ----------
    command
        One of :data:`COMMANDS`.
    level
        Exposure level for ``set_level``.
    params
        Scenario parameters (free-form JSON object, e.g. ``{"height_m": 12}``).
    reason
        Why (shown to the clinician and logged).
    id
        Command id; assigned automatically, echoed by the client's ``ack``.
    """

    command: str
    level: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise ConfigurationError(f"unknown VR command {self.command!r}; use one of {COMMANDS}")
        if self.command == "set_level" and (self.level is None or self.level < 0):
            raise ConfigurationError("set_level needs a level >= 0")
        if not self.id:
            self.id = f"c{next(_ids)}"

    def to_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"v": 1, "type": "command", "id": self.id, "command": self.command}
        if self.level is not None:
            msg["level"] = self.level
        if self.params:
            msg["params"] = self.params
        if self.reason:
            msg["reason"] = self.reason
        return msg


@dataclass
class SessionUpdate:
    """What hooks (exposure controller, safety monitors) receive.

    ``kind`` is ``"estimate"``, ``"event"``, ``"quality"``, ``"ack"``, ``"cue"`` or ``"cue_response"``; the matching
    attribute is set. ``row`` holds the feature row behind an estimate.
    """

    kind: str
    t: float
    session: LiveSession
    estimate: StateEstimate | None = None
    row: dict[str, Any] | None = None
    event: Event | None = None
    quality: dict[str, Any] | None = None
    ack: dict[str, Any] | None = None
    cue: Cue | None = None
    cue_response: CueResponse | None = None
