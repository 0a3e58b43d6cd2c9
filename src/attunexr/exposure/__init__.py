"""Adaptive exposure under clinician bounds: hierarchies, policies, the controller and its decisions."""

from attunexr.exposure._bounds import BLOCK_REASONS, ControllerBounds, gate_step
from attunexr.exposure._controller import ControllerMode, EstimateLike, ExposureController
from attunexr.exposure._decision import DECISION_KINDS, DECISION_STATUSES, Decision, Proposal
from attunexr.exposure._hierarchy import BUILTIN_HIERARCHIES, Hierarchy, Level, load_hierarchy
from attunexr.exposure._personal import PersonalCalibration
from attunexr.exposure._policies import (
    POLICY_REASONS,
    TREND_TAUS,
    ArousalAdaptive,
    ExposurePolicy,
    FixedSchedule,
    PolicyObservation,
    SudsLadder,
    ema_update,
    make_policy,
    trend_per_minute,
)

__all__ = [
    "BLOCK_REASONS",
    "BUILTIN_HIERARCHIES",
    "DECISION_KINDS",
    "DECISION_STATUSES",
    "POLICY_REASONS",
    "TREND_TAUS",
    "ArousalAdaptive",
    "ControllerBounds",
    "ControllerMode",
    "Decision",
    "EstimateLike",
    "ExposureController",
    "ExposurePolicy",
    "FixedSchedule",
    "Hierarchy",
    "Level",
    "PersonalCalibration",
    "PolicyObservation",
    "Proposal",
    "SudsLadder",
    "ema_update",
    "gate_step",
    "load_hierarchy",
    "make_policy",
    "trend_per_minute",
]
