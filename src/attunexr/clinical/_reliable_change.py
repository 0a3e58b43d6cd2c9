"""Reliable change between two questionnaire scores (Jacobson & Truax 1991).

``RCI = (x2 - x1) / S_diff`` with ``S_diff = sqrt(2 * SE^2)`` and ``SE = SD * sqrt(1 - r)``. A change is reliable
when ``|RCI| > 1.96`` (less than 5 % chance of arising from measurement error alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attunexr.errors import ConfigurationError

__all__ = ["RELIABILITY_NORMS", "ReliableChange", "reliable_change", "reliable_change_index"]


#: instrument -> (reference SD, reliability). Reliabilities are the published internal consistencies (GAD-7
#: alpha .92, Spitzer 2006; PHQ-9 .89, Kroenke 2001; PCL-5 .94, Blevins 2015). The SDs are ASSUMPTIONS chosen for
#: clinical samples so that the reliable-change thresholds equal the ones services commonly use
#: (GAD-7 4 points, PHQ-9 6 points, PCL-5 10 points). Pass your own sample's SD and reliability when you have them.
RELIABILITY_NORMS: dict[str, tuple[float, float]] = {
    "gad7": (5.0, 0.92),
    "phq9": (6.5, 0.89),
    "pcl5": (15.0, 0.94),
}


def reliable_change_index(before: float, after: float, sd: float, reliability: float) -> float:
    """Jacobson-Truax reliable change index of ``after - before``.

    Parameters
    ----------
    before, after
        Scores at the two time points.
    sd
        Standard deviation of the score in a reference sample (pre-treatment).
    reliability
        Test-retest or internal-consistency reliability in (0, 1).
    """
    if not sd > 0 or not 0 < reliability < 1:
        raise ConfigurationError(f"reliable change needs sd > 0 and 0 < reliability < 1, got {sd}, {reliability}")
    se = sd * math.sqrt(1.0 - reliability)
    s_diff = math.sqrt(2.0 * se * se)
    return (after - before) / s_diff


@dataclass(frozen=True)
class ReliableChange:
    """Result of comparing two scores of one instrument (higher score = worse on every supported instrument)."""

    instrument: str
    before: float
    after: float
    rci: float
    threshold_points: float
    worsened: bool
    improved: bool


def reliable_change(instrument: str, before: float, after: float, sd: float | None = None,
                    reliability: float | None = None) -> ReliableChange:
    """Classify the change of ``instrument`` (``"gad7"``, ``"phq9"``, ``"pcl5"``) as reliable worsening/improvement."""
    key = instrument.lower().replace("-", "")
    if key not in RELIABILITY_NORMS and (sd is None or reliability is None):
        raise ConfigurationError(
            f"no reliability norms for {instrument!r}; known: {sorted(RELIABILITY_NORMS)}, or pass sd and reliability"
        )
    d_sd, d_r = RELIABILITY_NORMS.get(key, (0.0, 0.0))
    sd_v = d_sd if sd is None else sd
    r_v = d_r if reliability is None else reliability
    rci = reliable_change_index(before, after, sd_v, r_v)
    threshold = 1.96 * math.sqrt(2.0) * sd_v * math.sqrt(1.0 - r_v)
    return ReliableChange(key, before, after, rci, threshold, rci > 1.96, rci < -1.96)
