"""Scoring of the instruments used live and between sessions.

SUDS (Wolpe 1969), Fast Motion Sickness scale (Keshavarz & Hecht 2011), Simulator Sickness Questionnaire
(Kennedy et al. 1993), GAD-7 (Spitzer et al. 2006), PHQ-9 (Kroenke et al. 2001) and PCL-5 (Blevins et al. 2015).
Every scorer validates its input and raises :class:`~attunexr.errors.ConfigurationError` naming the bad item.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from attunexr.errors import ConfigurationError

__all__ = [
    "SSQ_ITEMS",
    "InstrumentResult",
    "SSQScore",
    "score_fms",
    "score_gad7",
    "score_pcl5",
    "score_phq9",
    "score_ssq",
    "score_suds",
]

logger = logging.getLogger(__name__)

#: The 16 SSQ symptoms in questionnaire order with the subscales each loads on
#: (N nausea, O oculomotor, D disorientation; Kennedy et al. 1993, Table 2).
SSQ_ITEMS: tuple[tuple[str, str], ...] = (
    ("general_discomfort", "NO"),
    ("fatigue", "O"),
    ("headache", "O"),
    ("eye_strain", "O"),
    ("difficulty_focusing", "OD"),
    ("increased_salivation", "N"),
    ("sweating", "N"),
    ("nausea", "ND"),
    ("difficulty_concentrating", "NO"),
    ("fullness_of_head", "D"),
    ("blurred_vision", "OD"),
    ("dizzy_eyes_open", "D"),
    ("dizzy_eyes_closed", "D"),
    ("vertigo", "D"),
    ("stomach_awareness", "N"),
    ("burping", "N"),
)

_SSQ_WEIGHTS = {"N": 9.54, "O": 7.58, "D": 13.92}
_SSQ_TOTAL_WEIGHT = 3.74


@dataclass(frozen=True)
class InstrumentResult:
    """A scored questionnaire.

    Parameters
    ----------
    instrument
        ``"gad7"``, ``"phq9"`` or ``"pcl5"``.
    total
        Sum score.
    items
        The item answers as given.
    severity
        Severity band named by the instrument's authors.
    flags
        Items needing clinical attention (e.g. ``"phq9_item9"`` when PHQ-9 item 9 > 0).
    """

    instrument: str
    total: int
    items: tuple[int, ...]
    severity: str
    flags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SSQScore:
    """Simulator Sickness Questionnaire subscale and total scores (Kennedy et al. 1993)."""

    nausea: float
    oculomotor: float
    disorientation: float
    total: float
    raw: dict[str, int]


def _check_items(name: str, items: Sequence[int], n: int, lo: int, hi: int) -> tuple[int, ...]:
    if len(items) != n:
        raise ConfigurationError(f"{name}: expected {n} item answers, got {len(items)}")
    out = []
    for i, v in enumerate(items, start=1):
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or not lo <= v <= hi:
            raise ConfigurationError(f"{name}: item {i} is {v!r}; answers must be whole numbers {lo}..{hi}")
        out.append(int(v))
    return tuple(out)


def _check_scalar(name: str, value: float, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name}: {value!r} is not a number")
    if not lo <= value <= hi:
        raise ConfigurationError(f"{name}: {value} is outside {lo:g}..{hi:g}")
    return float(value)


def score_suds(value: float) -> float:
    """Validate a Subjective Units of Distress rating (0 = calm, 100 = worst distress imaginable; Wolpe 1969)."""
    return _check_scalar("SUDS", value, 0, 100)


def score_fms(value: float) -> float:
    """Validate a Fast Motion Sickness rating (0 = no sickness, 20 = frank sickness; Keshavarz & Hecht 2011)."""
    return _check_scalar("FMS", value, 0, 20)


def score_ssq(answers: Sequence[int] | Mapping[str, int]) -> SSQScore:
    """Score the 16-item Simulator Sickness Questionnaire.

    Each symptom is rated 0 (none) to 3 (severe). Raw subscale sums are weighted: nausea x 9.54,
    oculomotor x 7.58, disorientation x 13.92; total = (N raw + O raw + D raw) x 3.74 (Kennedy et al. 1993).

    Parameters
    ----------
    answers
        16 ratings in :data:`SSQ_ITEMS` order, or a mapping from item name to rating.
    """
    names = [n for n, _ in SSQ_ITEMS]
    if isinstance(answers, Mapping):
        unknown = sorted(set(answers) - set(names))
        missing = [n for n in names if n not in answers]
        if unknown or missing:
            raise ConfigurationError(f"SSQ: unknown items {unknown}, missing items {missing}")
        seq = [answers[n] for n in names]
    else:
        seq = list(answers)
    vals = _check_items("SSQ", seq, 16, 0, 3)
    raw = {"N": 0, "O": 0, "D": 0}
    for (_, scales), v in zip(SSQ_ITEMS, vals, strict=True):
        for s in scales:
            raw[s] += v
    return SSQScore(
        nausea=raw["N"] * _SSQ_WEIGHTS["N"],
        oculomotor=raw["O"] * _SSQ_WEIGHTS["O"],
        disorientation=raw["D"] * _SSQ_WEIGHTS["D"],
        total=(raw["N"] + raw["O"] + raw["D"]) * _SSQ_TOTAL_WEIGHT,
        raw=dict(zip(names, vals, strict=True)),
    )


def _band(total: int, cuts: Sequence[tuple[int, str]]) -> str:
    label = cuts[0][1]
    for cut, name in cuts:
        if total >= cut:
            label = name
    return label


def score_gad7(items: Sequence[int]) -> InstrumentResult:
    """GAD-7: 7 items 0-3, total 0-21; bands minimal <5, mild 5-9, moderate 10-14, severe >=15 (Spitzer 2006)."""
    vals = _check_items("GAD-7", items, 7, 0, 3)
    total = sum(vals)
    sev = _band(total, [(0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")])
    return InstrumentResult("gad7", total, vals, sev)


def score_phq9(items: Sequence[int]) -> InstrumentResult:
    """PHQ-9: 9 items 0-3, total 0-27 (Kroenke et al. 2001).

    Bands: minimal <5, mild 5-9, moderate 10-14, moderately severe 15-19, severe >=20. Item 9 (thoughts that
    one would be better off dead or of self-harm) > 0 sets the ``"phq9_item9"`` flag whatever the total.
    """
    vals = _check_items("PHQ-9", items, 9, 0, 3)
    total = sum(vals)
    sev = _band(
        total, [(0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")]
    )
    flags = ("phq9_item9",) if vals[8] > 0 else ()
    if flags:
        logger.warning("PHQ-9 item 9 answered %d: clinician review required", vals[8])
    return InstrumentResult("phq9", total, vals, sev, flags)


def score_pcl5(items: Sequence[int]) -> InstrumentResult:
    """PCL-5: 20 items 0-4, total 0-80; >= 33 is the provisional PTSD cut-point (Blevins et al. 2015)."""
    vals = _check_items("PCL-5", items, 20, 0, 4)
    total = sum(vals)
    sev = "probable PTSD" if total >= 33 else "below cut-point"
    return InstrumentResult("pcl5", total, vals, sev)
