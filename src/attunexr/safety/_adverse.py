"""Adverse-event registry and per-study safety summaries.

Fields follow ICH E2A / CONSORT-harms usage: type, severity (mild/moderate/severe), seriousness (serious or not),
relatedness to the intervention, action taken, outcome, and clinician confirmation. Rates are given per 100
session-hours so that studies with different session lengths compare.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.safety._alert import Alert

__all__ = ["ADVERSE_EVENT_TYPES", "AdverseEvent", "AdverseEventRegistry"]

logger = logging.getLogger(__name__)

ADVERSE_EVENT_TYPES = ("cybersickness", "emotional_overload", "dissociation", "symptom_worsening", "suicidality",
                       "fall_or_injury", "other")
_SEVERITY = ("mild", "moderate", "severe")
_RELATEDNESS = ("unrelated", "unlikely", "possible", "probable", "definite")
_ACTIONS = ("none", "alert", "block_escalation", "de_escalate", "pause", "end", "withdrawn")
_OUTCOMES = ("resolved", "resolving", "not_resolved", "resolved_with_sequelae", "fatal", "unknown")


@dataclass
class AdverseEvent:
    """One adverse event.

    Parameters
    ----------
    id
        Registry-assigned identifier.
    study, subject, session
        Where it happened (subject is a pseudonym).
    t
        Session time (s) or Unix time of onset.
    type
        One of :data:`ADVERSE_EVENT_TYPES`.
    severity
        ``mild``, ``moderate`` or ``severe``.
    serious
        Serious adverse event (hospitalisation, life-threatening, ...).
    relatedness
        ``unrelated``, ``unlikely``, ``possible``, ``probable`` or ``definite``.
    action_taken
        ``none``, ``alert``, ``block_escalation``, ``de_escalate``, ``pause``, ``end`` or ``withdrawn``.
    outcome
        ``resolved``, ``resolving``, ``not_resolved``, ``resolved_with_sequelae``, ``fatal`` or ``unknown``.
    confirmed_by
        Clinician who confirmed it (``None`` while it is only a monitor's flag).
    source
        ``"monitor:<name>"`` or ``"clinician:<id>"``.
    """

    id: str
    study: str
    subject: str
    session: str
    t: float
    type: str
    severity: str
    serious: bool = False
    relatedness: str = "possible"
    action_taken: str = "none"
    outcome: str = "unknown"
    confirmed_by: str | None = None
    source: str = ""
    description: str = ""

    def validate(self) -> None:
        for name, value, allowed in (("type", self.type, ADVERSE_EVENT_TYPES), ("severity", self.severity, _SEVERITY),
                                     ("relatedness", self.relatedness, _RELATEDNESS),
                                     ("action_taken", self.action_taken, _ACTIONS), ("outcome", self.outcome, _OUTCOMES)):
            if value not in allowed:
                raise ConfigurationError(f"adverse event {name} {value!r} is not one of {list(allowed)}")


@dataclass
class AdverseEventRegistry:
    """Adverse events of one or more studies, with exposure time for rates."""

    events: list[AdverseEvent] = field(default_factory=list)
    session_seconds: dict[str, float] = field(default_factory=dict)  # study -> total session time

    def report(self, **fields: Any) -> AdverseEvent:
        """Register an event (see :class:`AdverseEvent` for fields); returns it with its id."""
        ev = AdverseEvent(id=f"ae{len(self.events) + 1:05d}", **fields)
        ev.validate()
        self.events.append(ev)
        logger.info("adverse event %s: %s %s in %s/%s", ev.id, ev.severity, ev.type, ev.study, ev.subject)
        return ev

    def report_alert(self, alert: Alert, study: str, subject: str, session: str, type: str,
                     severity: str = "mild") -> AdverseEvent:
        """Register a monitor alert as an unconfirmed adverse event (a clinician confirms it later)."""
        action = str(alert.action)  # a StrEnum: its value
        return self.report(study=study, subject=subject, session=session, t=float(alert.t), type=type,
                           severity=severity, action_taken=action if action in _ACTIONS else "alert",
                           source=f"monitor:{alert.monitor}", description=str(alert.message))

    def confirm(self, event_id: str, clinician: str, **updates: Any) -> AdverseEvent:
        """Clinician confirmation, optionally updating severity, seriousness, relatedness, outcome."""
        ev = next((e for e in self.events if e.id == event_id), None)
        if ev is None:
            raise ConfigurationError(f"no adverse event {event_id!r}")
        for k, v in updates.items():
            if k not in ("severity", "serious", "relatedness", "outcome", "action_taken", "description"):
                raise ConfigurationError(f"cannot update {k!r} of an adverse event")
            setattr(ev, k, v)
        ev.confirmed_by = clinician
        ev.validate()
        return ev

    def add_session_time(self, study: str, seconds: float) -> None:
        if seconds < 0:
            raise ConfigurationError("session time cannot be negative")
        self.session_seconds[study] = self.session_seconds.get(study, 0.0) + float(seconds)

    def summary(self, study: str, confirmed_only: bool = False) -> dict[str, Any]:
        """Per-study safety summary: counts by type/severity, serious events and events per 100 session-hours."""
        evs = [e for e in self.events if e.study == study and (e.confirmed_by or not confirmed_only)]
        hours = self.session_seconds.get(study, 0.0) / 3600.0
        rate = (100.0 * len(evs) / hours) if hours > 0 else None
        by_type = Counter(e.type for e in evs)
        return {
            "study": study,
            "events": len(evs),
            "serious": sum(e.serious for e in evs),
            "confirmed": sum(e.confirmed_by is not None for e in evs),
            "session_hours": hours,
            "events_per_100_session_hours": rate,
            "by_type": dict(by_type),
            "by_severity": dict(Counter(e.severity for e in evs)),
            "rate_by_type_per_100_session_hours": {k: 100.0 * v / hours for k, v in by_type.items()} if hours else {},
            "subjects_with_events": len({e.subject for e in evs}),
        }

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps({"events": [asdict(e) for e in self.events],
                                   "session_seconds": self.session_seconds}, indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> AdverseEventRegistry:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            reg = cls([AdverseEvent(**e) for e in data["events"]], dict(data["session_seconds"]))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataFormatError(path, f"not an adverse-event registry file: {err}") from err
        for e in reg.events:
            e.validate()
        return reg
