"""Decisions and proposals of the exposure controller, each with reason codes and evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DECISION_KINDS", "DECISION_STATUSES", "Decision", "DecisionKind", "DecisionStatus", "Proposal"]

DecisionKind = Literal["step_up", "step_down", "hold", "pause", "resume", "stop"]
DecisionStatus = Literal["proposed", "approved", "rejected", "expired", "applied"]
DECISION_KINDS: tuple[str, ...] = ("step_up", "step_down", "hold", "pause", "resume", "stop")
DECISION_STATUSES: tuple[str, ...] = ("proposed", "approved", "rejected", "expired", "applied")


@dataclass
class Decision:
    """One proposal or decision of the controller.

    Parameters
    ----------
    id
        Unique within the controller (``"d000012"``).
    t
        Session time in seconds when it was made.
    kind
        ``step_up``, ``step_down``, ``hold``, ``pause``, ``resume`` or ``stop``.
    from_level, to_level
        Level before and after (equal for hold, pause, resume, stop).
    reasons
        Reason codes (``"arousal_below_window"``, ``"signal_quality_poor"``, ``"clinician"`` ...).
    evidence
        What the decision rested on: latest estimates, feature contributions, SUDS, quality, alerts.
    status
        ``proposed`` (awaiting a clinician), ``approved``, ``rejected``, ``expired`` or ``applied``.
    decided_by
        ``"ai"``, ``"clinician:<id>"`` or ``"safety"``.
    resolved_t
        When a proposal was approved, rejected or expired.
    """

    id: str
    t: float
    kind: DecisionKind
    from_level: int
    to_level: int
    reasons: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)
    status: DecisionStatus = "applied"
    decided_by: str = "ai"
    resolved_t: float | None = None
    resolved_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "t": self.t,
            "kind": self.kind,
            "from_level": self.from_level,
            "to_level": self.to_level,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
            "status": self.status,
            "decided_by": self.decided_by,
            "resolved_t": self.resolved_t,
            "resolved_by": self.resolved_by,
        }


#: A proposal is a :class:`Decision` whose status is ``"proposed"`` until a clinician resolves it.
Proposal = Decision
