"""The conduct record of a trial as the analysis sees it: participants, allocations, visits, outcomes, dropout,
deviations, harms, fidelity and cost.

The same :class:`TrialData` is built from the database for a real study and by :func:`simulate_trial` for a
virtual one, so both go through the same analysis, CONSORT flow and checklists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from attunexr.trials._protocol import Protocol

__all__ = ["AdverseEventRecord", "ParticipantRecord", "ScreeningRecord", "TrialData", "VisitRecord"]


@dataclass
class VisitRecord:
    """A visit that took place: its day after randomization and the instrument scores entered."""

    visit: str
    day: int
    scores: dict[str, float] = field(default_factory=dict)
    deviation: str = ""


@dataclass
class AdverseEventRecord:
    """An adverse event (fields as in :class:`attunexr.safety.AdverseEvent`)."""

    type: str
    severity: str
    serious: bool
    relatedness: str
    expected: bool
    session: int | None = None


@dataclass
class ScreeningRecord:
    """A person assessed for eligibility who was not randomized, and why."""

    id: str
    site: str
    reason: str


@dataclass
class ParticipantRecord:
    """One randomized participant.

    Parameters
    ----------
    id
        Pseudonym.
    site, strata, stratum
        Site, stratification-factor levels, and the randomization stratum key.
    arm
        Allocated arm (ITT).
    baseline
        Baseline scores by instrument.
    characteristics
        Baseline characteristics for the table by arm (age, sex, ...).
    visits
        Post-randomization visits that took place.
    sessions_planned, sessions_attended
        Dose.
    minutes_at_level
        Exposure minutes at each hierarchy level (fidelity).
    proposals_approved, proposals_rejected, clinician_overrides
        AI proposals and clinician decisions from the session logs (0 where the arm has no AI).
    discontinued
        Reason the intervention was stopped early ("" if not).
    lost
        Reason for loss to follow-up or withdrawal ("" if followed to the end).
    lost_after
        Last visit attended before loss.
    adverse_events
        Harms.
    cost
        Cost inputs per participant (staff minutes, equipment share, licence share, in currency units).
    """

    id: str
    site: str
    strata: dict[str, str]
    stratum: str
    arm: str
    baseline: dict[str, float]
    characteristics: dict[str, Any] = field(default_factory=dict)
    visits: list[VisitRecord] = field(default_factory=list)
    sessions_planned: int = 0
    sessions_attended: int = 0
    minutes_at_level: list[float] = field(default_factory=list)
    proposals_approved: int = 0
    proposals_rejected: int = 0
    clinician_overrides: int = 0
    discontinued: str = ""
    lost: str = ""
    lost_after: str = ""
    adverse_events: list[AdverseEventRecord] = field(default_factory=list)
    cost: dict[str, float] = field(default_factory=dict)

    def score(self, visit: str, instrument: str) -> float | None:
        for v in self.visits:
            if v.visit == visit and instrument in v.scores:
                return v.scores[instrument]
        return None


@dataclass
class TrialData:
    """Everything the analysis, the CONSORT flow, the checklists and the report need."""

    protocol: Protocol
    participants: list[ParticipantRecord]
    screened_out: list[ScreeningRecord] = field(default_factory=list)
    simulated: bool = False
    seed_fingerprint: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def by_arm(self) -> dict[str, list[ParticipantRecord]]:
        out: dict[str, list[ParticipantRecord]] = {a.id: [] for a in self.protocol.arms}
        for p in self.participants:
            out[p.arm].append(p)
        return out

    def allocated(self) -> dict[str, int]:
        c = Counter(p.arm for p in self.participants)
        return {a.id: int(c.get(a.id, 0)) for a in self.protocol.arms}

    def long_outcomes(self, instrument: str) -> pd.DataFrame:
        """One row per participant and post-baseline visit with a score of ``instrument``.

        Columns: participant, arm, site, stratum factors, visit, day, y, baseline.
        """
        base_id = self.protocol.baseline_visit().id
        rows = []
        for p in self.participants:
            b = p.baseline.get(instrument)
            for v in p.visits:
                if v.visit == base_id or instrument not in v.scores:
                    continue
                rows.append({"participant": p.id, "arm": p.arm, "site": p.site, **p.strata, "visit": v.visit,
                             "day": v.day, "y": float(v.scores[instrument]), "baseline": b})
        cols = ["participant", "arm", "site", *[f.id for f in self.protocol.stratification], "visit", "day", "y",
                "baseline"]
        return pd.DataFrame(rows, columns=cols)
