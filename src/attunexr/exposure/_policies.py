"""Exposure policies: what level change to ask for, given only what a live session observes.

A policy receives a :class:`PolicyObservation` (estimates, SUDS answers, quality, time at level) and never the
patient's inner state. Every policy works on numpy arrays, one element per session, so the same code drives one live
session (arrays of length 1) and thousands of virtual sessions. The controller then clips every request to the
clinician's bounds (:func:`~attunexr.exposure.gate_step`); policies cannot bypass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError

__all__ = [
    "POLICY_REASONS",
    "ArousalAdaptive",
    "ExposurePolicy",
    "FixedSchedule",
    "PolicyObservation",
    "SudsLadder",
    "TREND_TAUS",
    "ema_update",
    "make_policy",
    "trend_per_minute",
]

#: Reason codes a policy returns (index into this tuple).
POLICY_REASONS: tuple[str, ...] = (
    "hold",
    "schedule",
    "suds_below_window",
    "suds_habituated",
    "suds_in_window",
    "suds_overload",
    "no_recent_suds",
    "arousal_below_window",
    "arousal_in_window",
    "arousal_above_window",
    "habituating",
    "estimate_unavailable",
    "estimate_uncertain",
    "suds_high",
)
_R = {name: i for i, name in enumerate(POLICY_REASONS)}

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass
class PolicyObservation:
    """What a live session knows at a decision time, one array element per session.

    NaN marks "not available" in float fields.

    Parameters
    ----------
    t, elapsed, time_at_level
        Session time, seconds since session start, seconds at the current level.
    level, max_level
        Current level and the highest allowed level.
    probability, lower, upper
        Latest arousal estimate and its uncertainty interval.
    estimate_ok
        The estimate exists, is fresh, is not an abstention and the signal quality is good.
    trend
        Change of estimated arousal per minute (fast minus slow exponential average; NaN until known).
    suds, suds_age
        Latest SUDS answer (0-100) and its age in seconds.
    suds_peak
        Highest SUDS answered at the current level.
    """

    t: FloatArray
    elapsed: FloatArray
    time_at_level: FloatArray
    level: IntArray
    max_level: IntArray
    probability: FloatArray
    lower: FloatArray
    upper: FloatArray
    estimate_ok: BoolArray
    trend: FloatArray
    suds: FloatArray
    suds_age: FloatArray
    suds_peak: FloatArray

    @classmethod
    def single(cls, **values: float | int | bool) -> PolicyObservation:
        """One session's observation from scalars (missing float fields become NaN)."""
        arrays: dict[str, NDArray[np.generic]] = {}
        for name, fld in cls.__dataclass_fields__.items():
            raw = values.get(name, np.nan)
            dtype = np.int64 if fld.type == "IntArray" else bool if fld.type == "BoolArray" else np.float64
            arrays[name] = np.atleast_1d(np.asarray(raw, dtype=dtype))
        return cls(**arrays)  # type: ignore[arg-type]


@runtime_checkable
class ExposurePolicy(Protocol):
    """A policy maps an observation to requested level changes and reason codes (indices into POLICY_REASONS)."""

    name: str

    def decide(self, obs: PolicyObservation) -> tuple[IntArray, IntArray]: ...


@dataclass
class FixedSchedule:
    """Standard VR exposure: step up one level every ``step_every_s`` seconds, whatever the patient shows."""

    step_every_s: float = 120.0
    name: str = "fixed"

    def decide(self, obs: PolicyObservation) -> tuple[IntArray, IntArray]:
        up = obs.time_at_level >= self.step_every_s
        return up.astype(np.int64), np.where(up, _R["schedule"], _R["hold"]).astype(np.int64)


@dataclass
class SudsLadder:
    """The clinician's rule of thumb on SUDS prompts.

    Step up when the latest SUDS (answered at the current level) is below ``low``, or has fallen to
    ``habituation_fraction`` of its peak at this level (within-level habituation, Foa & Kozak 1986); hold inside the
    therapeutic window; step down when SUDS reaches ``overload``.
    """

    low: float = 35.0
    overload: float = 80.0
    habituation_fraction: float = 0.6
    name: str = "suds"

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.overload <= 100:
            raise ConfigurationError(f"SudsLadder needs 0 <= low < overload <= 100, got {self.low}, {self.overload}")

    def decide(self, obs: PolicyObservation) -> tuple[IntArray, IntArray]:
        fresh = np.isfinite(obs.suds) & (obs.suds_age <= obs.time_at_level)
        s = np.nan_to_num(obs.suds, nan=0.0)
        peak = np.nan_to_num(obs.suds_peak, nan=0.0)
        over = fresh & (s >= self.overload)
        below = fresh & (s < self.low)
        habit = fresh & (peak >= self.low) & (s <= self.habituation_fraction * peak) & ~over & ~below
        step = np.where(over, -1, np.where(below | habit, 1, 0))
        reason = np.select(
            [~fresh, over, below, habit], [_R["no_recent_suds"], _R["suds_overload"], _R["suds_below_window"],
                                           _R["suds_habituated"]], _R["suds_in_window"])
        return step.astype(np.int64), reason.astype(np.int64)


@dataclass
class ArousalAdaptive:
    """Keep estimated arousal inside a target window, using the model's uncertainty and SUDS prompts.

    * Estimate unavailable (missing, stale, abstained, poor signal): hold, or step down on a recent SUDS at or
      above ``suds_overload``.
    * Estimated arousal above the window with its lower bound inside or above the window (after ``settle_down_s``
      at the level, so one step down can show before the next), or SUDS overload (at once): step down.
    * Estimated arousal below ``low - margin`` with its upper bound still below ``high`` (it cannot be above the
      window), after ``settle_s`` at the level (the feature window and the physiological lags need that long to
      show the last change): step up (two levels when far below; the controller still cuts this to ``max_step``).
    * Inside the window: step up only when arousal is falling (``trend`` below ``-habituation_slope`` per minute,
      within-level habituation) in the lower part of the window after ``min_habituation_s`` at the level.
    * A plateau in the lower half of the window for ``plateau_s`` with the upper bound below ``high``: step up.
    * Uncertain (interval wider than ``max_uncertainty``): hold.
    * A SUDS answered at the current level below ``suds_low`` steps up unless the estimate's upper bound reaches the
      top of the window (self-report corrects a person whose physiology responds strongly).
    * A recent SUDS above ``suds_high`` vetoes any step up.
    """

    low: float = 0.42
    high: float = 0.68
    margin: float = 0.0
    max_uncertainty: float = 0.5
    habituation_slope: float = 0.03
    min_habituation_s: float = 60.0
    settle_s: float = 75.0
    settle_far_s: float = 40.0
    settle_down_s: float = 40.0
    plateau_s: float = float("inf")
    suds_low: float = 35.0
    suds_high: float = 75.0
    suds_overload: float = 85.0
    suds_max_age_s: float = 150.0
    name: str = "arousal"

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high <= 1:
            raise ConfigurationError(f"ArousalAdaptive needs 0 <= low < high <= 1, got {self.low}, {self.high}")

    def decide(self, obs: PolicyObservation) -> tuple[IntArray, IntArray]:
        p = np.nan_to_num(obs.probability, nan=0.5)
        lo = np.nan_to_num(obs.lower, nan=0.0)
        hi = np.nan_to_num(obs.upper, nan=1.0)
        ok = obs.estimate_ok & np.isfinite(obs.probability)
        recent = np.isfinite(obs.suds) & (obs.suds_age <= self.suds_max_age_s)
        s = np.where(recent, np.nan_to_num(obs.suds, nan=0.0), 0.0)
        suds_here = np.isfinite(obs.suds) & (obs.suds_age <= obs.time_at_level)  # answered at this level
        suds_over = suds_here & (s >= self.suds_overload)  # one step down per answer, not one per tick
        suds_high = recent & (s >= self.suds_high)
        uncertain = ok & ((hi - lo) > self.max_uncertainty)
        # step down when the point estimate is above the window and even the lower bound is inside or above it;
        # step up when the point estimate is below the window and even the upper bound stays below its top
        above = ok & ~uncertain & (p > self.high) & (lo > self.low) & (obs.time_at_level >= self.settle_down_s)
        # after a change the window and the physiological lags need time to show it (no stacking of steps)
        below = (ok & ~uncertain & (p < self.low - self.margin) & (hi < self.high)
                 & (obs.time_at_level >= self.settle_s))
        # far below the window (both by the estimate's upper bound and by SUDS at this level, if asked): climb
        # faster, two levels at a time; the controller still cuts this to max_step
        far = ok & ~uncertain & (hi < 0.5 * (self.low + self.high)) & (p < 0.5 * self.low)
        far_below = far & ~(suds_here & (s >= self.suds_low)) & (obs.time_at_level >= self.settle_far_s)
        below = below | far_below
        trend = np.nan_to_num(obs.trend, nan=0.0)
        habit = (ok & ~uncertain & ~above & ~below & (trend < -self.habituation_slope)
                 & (p < 0.5 * (self.low + self.high)) & (obs.time_at_level >= self.min_habituation_s))
        # a long plateau in the lower half of the window: move on through the hierarchy
        plateau = (ok & ~uncertain & ~above & ~below & (p < 0.5 * (self.low + self.high)) & (hi < self.high)
                   & (obs.time_at_level >= self.plateau_s))
        habit = habit | plateau
        suds_low = (suds_here & (s < self.suds_low)
                    & ~(ok & (hi >= self.high)))
        down = suds_over | above
        up = (below | habit | suds_low) & ~down & ~suds_high
        step = np.where(down, -1, np.where(up, np.where(far_below, 2, 1), 0))
        reason = np.select(
            [suds_over, above, up & below, up & habit, up & suds_low, ~ok, uncertain,
             suds_high & (below | habit | suds_low)],
            [_R["suds_overload"], _R["arousal_above_window"], _R["arousal_below_window"], _R["habituating"],
             _R["suds_below_window"], _R["estimate_unavailable"], _R["estimate_uncertain"], _R["suds_high"]],
            _R["arousal_in_window"],
        )
        return step.astype(np.int64), reason.astype(np.int64)


def make_policy(name: str, **params: float) -> FixedSchedule | SudsLadder | ArousalAdaptive:
    """Build a policy by name: ``"fixed"``, ``"suds"`` or ``"arousal"``."""
    table: dict[str, type[FixedSchedule] | type[SudsLadder] | type[ArousalAdaptive]] = {
        "fixed": FixedSchedule, "suds": SudsLadder, "arousal": ArousalAdaptive,
    }
    if name not in table:
        raise ConfigurationError(f"unknown policy {name!r}; use one of {sorted(table)}")
    return table[name](**params)  # type: ignore[arg-type]


def ema_update(prev: FloatArray, x: FloatArray, dt: FloatArray | float, tau: float) -> FloatArray:
    """One exponential-moving-average step with time constant ``tau`` (NaN ``prev`` starts at ``x``)."""
    a = 1.0 - np.exp(-np.asarray(dt, dtype=np.float64) / tau)
    out = np.where(np.isfinite(prev), prev + a * (x - prev), x)
    return np.where(np.isfinite(x), out, prev)


#: Time constants (s) of the fast and slow averages whose difference gives the arousal trend.
TREND_TAUS: tuple[float, float] = (30.0, 120.0)


def trend_per_minute(fast: FloatArray, slow: FloatArray) -> FloatArray:
    """Slope (per minute) of a signal from its fast and slow averages: a ramp lags each by its time constant."""
    return (fast - slow) / ((TREND_TAUS[1] - TREND_TAUS[0]) / 60.0)
