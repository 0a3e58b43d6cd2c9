"""Clinician bounds and the escalation gate that enforces them.

The gate is written once, on numpy arrays, so that :class:`~attunexr.exposure.ExposureController` (one session)
and the vectorised in-silico runner (thousands of virtual sessions) apply exactly the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from attunexr.errors import ConfigurationError

__all__ = ["BLOCK_REASONS", "ControllerBounds", "gate_step"]

#: Reason codes returned by :func:`gate_step` (0 = not blocked), in order of precedence.
BLOCK_REASONS: tuple[str, ...] = (
    "ok",
    "session_ended",
    "safety_block",
    "signal_quality_poor",
    "estimate_missing_or_stale",
    "model_abstained",
    "arousal_ceiling",
    "suds_ceiling",
    "min_dwell",
    "max_level",
)


@dataclass(frozen=True)
class ControllerBounds:
    """Limits a clinician sets on a session; the controller never escalates outside them.

    Parameters
    ----------
    max_level
        Highest level index that may be reached.
    min_dwell_s
        Minimum seconds at a level before an escalation.
    max_step
        Largest number of levels one escalation may climb.
    session_length_s
        Session length; no escalation after it, and the session stops at it.
    arousal_ceiling
        No escalation while the estimated arousal probability is at or above this.
    suds_ceiling
        No escalation while the latest SUDS is at or above this.
    estimate_max_age_s
        An estimate older than this is stale (treated as missing).
    suds_max_age_s
        A SUDS answer older than this is not used by the ceiling check.
    require_signal_for_escalation
        When ``True`` (default) every escalation needs a fresh, confident estimate on good signal. Set ``False``
        only for sessions with no sensors at all; the clinician then escalates by hand.
    """

    max_level: int = 7
    min_dwell_s: float = 60.0
    max_step: int = 1
    session_length_s: float = 1800.0
    arousal_ceiling: float = 0.9
    suds_ceiling: float = 85.0
    estimate_max_age_s: float = 20.0
    suds_max_age_s: float = 180.0
    require_signal_for_escalation: bool = True

    def __post_init__(self) -> None:
        if self.max_level < 0:
            raise ConfigurationError(f"max_level must be >= 0, got {self.max_level}")
        if self.max_step < 1:
            raise ConfigurationError(f"max_step must be >= 1, got {self.max_step}")
        if self.min_dwell_s < 0 or self.session_length_s <= 0 or self.estimate_max_age_s <= 0:
            raise ConfigurationError("min_dwell_s must be >= 0; session_length_s and estimate_max_age_s > 0")
        if not 0 < self.arousal_ceiling <= 1:
            raise ConfigurationError(f"arousal_ceiling must be in (0, 1], got {self.arousal_ceiling}")
        if not 0 < self.suds_ceiling <= 100:
            raise ConfigurationError(f"suds_ceiling must be in (0, 100], got {self.suds_ceiling}")


def gate_step(
    requested: ArrayLike,
    level: ArrayLike,
    time_at_level: ArrayLike,
    elapsed: ArrayLike,
    quality_ok: ArrayLike,
    estimate_fresh: ArrayLike,
    abstained: ArrayLike,
    arousal: ArrayLike,
    suds: ArrayLike,
    safety_block: ArrayLike,
    bounds: ControllerBounds,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Clip requested level changes to the clinician bounds.

    De-escalations always pass (down to level 0). An escalation passes only if the session has not ended, no safety
    block is active, signal quality is good, the estimate is fresh and the model did not abstain (unless
    ``bounds.require_signal_for_escalation`` is off), arousal and SUDS are below their ceilings, the minimum dwell
    time has passed and the level is below ``max_level``; it is then cut to ``max_step`` and to ``max_level``.

    Parameters
    ----------
    requested
        Requested change in levels (negative = down), one per session.
    level, time_at_level, elapsed
        Current level, seconds at it, seconds since the session started.
    quality_ok, estimate_fresh, abstained
        Signal-quality flag, whether a non-stale estimate exists, whether the model abstained.
    arousal, suds
        Latest estimated probability and latest recent SUDS (NaN when unknown: no ceiling check).
    safety_block
        Whether a safety monitor currently blocks escalation.
    bounds
        The clinician's bounds.

    Returns
    -------
    applied, reason
        The change that may be applied, and the :data:`BLOCK_REASONS` index explaining a blocked escalation
        (0 when nothing was blocked).
    """
    req = np.atleast_1d(np.asarray(requested, dtype=np.int64))
    lv = np.broadcast_to(np.asarray(level, dtype=np.int64), req.shape)
    tal = np.broadcast_to(np.asarray(time_at_level, dtype=np.float64), req.shape)
    el = np.broadcast_to(np.asarray(elapsed, dtype=np.float64), req.shape)
    q = np.broadcast_to(np.asarray(quality_ok, dtype=bool), req.shape)
    fresh = np.broadcast_to(np.asarray(estimate_fresh, dtype=bool), req.shape)
    abst = np.broadcast_to(np.asarray(abstained, dtype=bool), req.shape)
    ar = np.broadcast_to(np.asarray(arousal, dtype=np.float64), req.shape)
    sd = np.broadcast_to(np.asarray(suds, dtype=np.float64), req.shape)
    blk = np.broadcast_to(np.asarray(safety_block, dtype=bool), req.shape)

    up = req > 0
    reason = np.zeros(req.shape, dtype=np.int64)
    checks: list[NDArray[np.bool_]] = [
        el >= bounds.session_length_s,
        blk,
    ]
    if bounds.require_signal_for_escalation:
        checks += [~q, ~fresh, abst]
    else:
        checks += [np.zeros(req.shape, bool)] * 3
    checks += [
        np.nan_to_num(ar, nan=-1.0) >= bounds.arousal_ceiling,
        np.nan_to_num(sd, nan=-1.0) >= bounds.suds_ceiling,
        tal < bounds.min_dwell_s,
        lv >= bounds.max_level,
    ]
    # fill reasons in reverse so the first (highest-precedence) failing check wins
    for code in range(len(checks), 0, -1):
        reason = np.where(up & checks[code - 1], code, reason)
    up_ok = up & (reason == 0)
    up_size = np.minimum(np.minimum(req, bounds.max_step), bounds.max_level - lv)
    down_size = np.maximum(req, -lv)
    applied = np.where(up_ok, up_size, np.where(req < 0, down_size, 0))
    return applied.astype(np.int64), reason
