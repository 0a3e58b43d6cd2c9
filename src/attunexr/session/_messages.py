"""Data objects that flow out of a live session: state estimates, commands, updates for hooks and their context."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attunexr.errors import ConfigurationError

if TYPE_CHECKING:
    from attunexr.features import Cue, CueResponse
    from attunexr.recording import Event

__all__ = ["COMMANDS", "Command", "HookContext", "SessionUpdate", "StateEstimate"]

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


class HookContext:
    """What a hook may use of its session: which session, its clock, the log and the VR client.

    Hooks (exposure controller, safety monitors) get this narrow view instead of the mutable
    :class:`~attunexr.session.LiveSession`, so a hook cannot reach the session's buffers, detector, subscribers or
    other hooks. :class:`~attunexr.session.LiveSession` builds one per session; an application or a test can build
    one from its own functions.

    Parameters
    ----------
    session_id
        The session's identifier.
    now
        ``() -> float``: the session clock (latest sample time; NaN before any data).
    record
        ``(kind, payload, t) -> None``: log a decision, proposal, alert ... with its evidence.
    send_command
        ``(command) -> command id``: send a command to the VR client (logged, never dropped).
    """

    __slots__ = ("_now", "_record", "_send", "session_id")

    def __init__(self, session_id: str, now: Callable[[], float],
                 record: Callable[[str, Any, float | None], None], send_command: Callable[[Command], str]) -> None:
        self.session_id = session_id
        self._now = now
        self._record = record
        self._send = send_command

    def now(self) -> float:
        """The session clock now (latest sample time seen; NaN before any data)."""
        return self._now()

    def record(self, kind: str, payload: Any, t: float | None = None) -> None:
        """Log ``payload`` as a ``kind`` record (``decision``, ``proposal`` and ``alert`` also reach subscribers)."""
        self._record(kind, payload, t)

    def send_command(self, command: Command) -> str:
        """Send ``command`` to the VR client (logged; delivery is never dropped); returns its id."""
        return self._send(command)

    def __repr__(self) -> str:
        return f"<HookContext {self.session_id}>"


@dataclass
class SessionUpdate:
    """What hooks (exposure controller, safety monitors) receive.

    ``kind`` is ``"estimate"``, ``"event"``, ``"quality"``, ``"ack"``, ``"cue"`` or ``"cue_response"``; the matching
    attribute is set. ``row`` holds the feature row behind an estimate. ``context`` is the hook's narrow view of
    its session (:class:`HookContext`: id, clock, record, send a command), never the session itself.
    """

    kind: str
    t: float
    context: HookContext
    estimate: StateEstimate | None = None
    row: dict[str, Any] | None = None
    event: Event | None = None
    quality: dict[str, Any] | None = None
    ack: dict[str, Any] | None = None
    cue: Cue | None = None
    cue_response: CueResponse | None = None
