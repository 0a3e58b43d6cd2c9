"""Instruments used in VR exposure trials: PHQ-A, Acrophobia Questionnaire, Fear of Spiders Questionnaire, IPQ and
VRSQ; plus the total-score ranges of every instrument attunexr scores (used to refuse out-of-range entries).

Item texts are not reproduced: the questionnaires are free to use for research but their wording belongs to their
authors and publishers, so items are referred to by number in the published order (see each citation). EQ-5D is
licensed by the EuroQol Group and is deliberately not included; register with EuroQol to use it.

Missing-item rules are stated per instrument; a scorer raises :class:`~attunexr.errors.ConfigurationError` when the
rule is not met (never guesses).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from attunexr.errors import ConfigurationError

__all__ = [
    "INSTRUMENT_RANGES",
    "IPQ_SUBSCALES",
    "ScoredInstrument",
    "check_instrument_total",
    "score_aq",
    "score_fsq",
    "score_ipq",
    "score_phqa",
    "score_vrsq",
]

logger = logging.getLogger(__name__)

#: instrument id -> (lowest, highest) total score. ``ssq`` is the Kennedy total (3.74 x 63), ``ipq`` the mean of the
#: 14 items on the 0-6 scoring key, ``vrsq`` the 0-100 total of Kim et al. (2018).
INSTRUMENT_RANGES: dict[str, tuple[float, float]] = {
    "aq_anxiety": (0, 120), "aq_avoidance": (0, 40), "fsq": (0, 108), "phq9": (0, 27), "phqa": (0, 27),
    "gad7": (0, 21), "pcl5": (0, 80), "ssq": (0, 235.62), "vrsq": (0, 100), "ipq": (0, 6), "suds": (0, 100),
    "fms": (0, 20),
}

#: IPQ items in the igroup.org order with their subscale; ``True`` marks reverse-keyed items (Schubert et al. 2001)
IPQ_SUBSCALES: tuple[tuple[str, str, bool], ...] = (
    ("G1", "general", False), ("SP1", "spatial", False), ("SP2", "spatial", True), ("SP3", "spatial", False),
    ("SP4", "spatial", False), ("SP5", "spatial", False), ("INV1", "involvement", False),
    ("INV2", "involvement", False), ("INV3", "involvement", True), ("INV4", "involvement", False),
    ("REAL1", "realism", True), ("REAL2", "realism", False), ("REAL3", "realism", False),
    ("REAL4", "realism", False),
)


@dataclass(frozen=True)
class ScoredInstrument:
    """A scored questionnaire: ``total``, named ``subscales``, items as given (``None`` = missing), flags."""

    instrument: str
    total: float
    subscales: dict[str, float] = field(default_factory=dict)
    items: tuple[float | None, ...] = ()
    flags: tuple[str, ...] = ()
    prorated: bool = False


def check_instrument_total(instrument: str, value: float) -> float:
    """Refuse a total score outside the instrument's range (clear error naming instrument and range)."""
    if instrument not in INSTRUMENT_RANGES:
        raise ConfigurationError(f"unknown instrument {instrument!r}; known: {sorted(INSTRUMENT_RANGES)}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{instrument}: score {value!r} is not a number")
    lo, hi = INSTRUMENT_RANGES[instrument]
    if not lo <= value <= hi:
        raise ConfigurationError(f"{instrument}: score {value:g} is outside the instrument's range {lo:g}..{hi:g}")
    return float(value)


def _items(name: str, items: Sequence[float | None], n: int, lo: int, hi: int) -> list[float | None]:
    if len(items) != n:
        raise ConfigurationError(f"{name}: expected {n} item answers (None for missing), got {len(items)}")
    out: list[float | None] = []
    for i, v in enumerate(items, start=1):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or not lo <= v <= hi:
            raise ConfigurationError(f"{name}: item {i} is {v!r}; answers must be whole numbers {lo}..{hi}")
        out.append(float(v))
    return out


def _prorated_sum(name: str, vals: list[float | None], max_missing: int) -> tuple[float, bool]:
    present = [v for v in vals if v is not None]
    missing = len(vals) - len(present)
    if missing > max_missing:
        raise ConfigurationError(f"{name}: {missing} items missing; at most {max_missing} may be missing "
                                 "(prorated), otherwise the score is not valid")
    total = sum(present) * len(vals) / len(present) if missing else sum(present)
    return float(round(total, 2)), missing > 0


def score_phqa(items: Sequence[float | None]) -> ScoredInstrument:
    """PHQ-A (PHQ-9 modified for adolescents; Johnson et al., J Adolesc Health 2002): 9 items 0-3, total 0-27.

    Missing items: one item may be missing and is prorated, except item 9, which must be answered (a missing
    item 9 is an error: the risk question has to be asked). Item 9 > 0 sets the ``phqa_item9`` flag whatever the
    total: the responsible clinician must be alerted.
    """
    vals = _items("PHQ-A", items, 9, 0, 3)
    if vals[8] is None:
        raise ConfigurationError("PHQ-A: item 9 is missing; it must be asked and answered (risk question)")
    total, prorated = _prorated_sum("PHQ-A", vals, 1)
    flags = ("phqa_item9",) if (vals[8] or 0) > 0 else ()
    if flags:
        logger.warning("PHQ-A item 9 answered %d: clinician review required", vals[8])
    return ScoredInstrument("phqa", total, {}, tuple(vals), flags, prorated)


def score_aq(items: Sequence[float | None], avoidance: Sequence[float | None] | None = None) -> ScoredInstrument:
    """Acrophobia Questionnaire (Cohen, Behav Ther 1977): 20 situations rated for anxiety 0-6 (total 0-120) and
    optionally for avoidance 0-2 (total 0-40).

    Missing items: up to 2 per subscale are prorated. Validity: identical answers to all 20 anxiety items set the
    ``uniform_responses`` flag (check the form was understood).
    """
    vals = _items("AQ anxiety", items, 20, 0, 6)
    total, prorated = _prorated_sum("AQ anxiety", vals, 2)
    subs = {"anxiety": total}
    if avoidance is not None:
        av = _items("AQ avoidance", avoidance, 20, 0, 2)
        subs["avoidance"], p2 = _prorated_sum("AQ avoidance", av, 2)
        prorated = prorated or p2
    present = {v for v in vals if v is not None}
    flags = ("uniform_responses",) if len(present) == 1 else ()
    return ScoredInstrument("aq_anxiety", total, subs, tuple(vals), flags, prorated)


def score_fsq(items: Sequence[float | None]) -> ScoredInstrument:
    """Fear of Spiders Questionnaire (Szymanski & O'Donohue, J Behav Ther Exp Psychiatry 1995): 18 items 0-6,
    total 0-108. Up to 2 missing items prorated; all-identical answers flagged ``uniform_responses``."""
    vals = _items("FSQ", items, 18, 0, 6)
    total, prorated = _prorated_sum("FSQ", vals, 2)
    flags = ("uniform_responses",) if len({v for v in vals if v is not None}) == 1 else ()
    return ScoredInstrument("fsq", total, {}, tuple(vals), flags, prorated)


def score_ipq(items: Sequence[float | None]) -> ScoredInstrument:
    """Igroup Presence Questionnaire (Schubert, Friedmann & Regenbrecht, Presence 2001): 14 items answered 0-6 in
    the order of :data:`IPQ_SUBSCALES`; reverse-keyed items are flipped (6 - x). Subscales are item means
    (general presence is the single item G1); the total is the mean of all items. A subscale with more than one
    missing item (or a missing G1) is an error."""
    vals = _items("IPQ", items, 14, 0, 6)
    keyed = [None if v is None else (6.0 - v if rev else v) for v, (_, _, rev) in zip(vals, IPQ_SUBSCALES,
                                                                                     strict=True)]
    subs: dict[str, float] = {}
    for sub in ("general", "spatial", "involvement", "realism"):
        xs = [k for k, (_, s, _) in zip(keyed, IPQ_SUBSCALES, strict=True) if s == sub]
        present = [x for x in xs if x is not None]
        if len(xs) - len(present) > (0 if sub == "general" else 1):
            raise ConfigurationError(f"IPQ: too many missing items in the {sub} subscale")
        subs[sub] = round(sum(present) / len(present), 3)
    allp = [x for x in keyed if x is not None]
    return ScoredInstrument("ipq", round(sum(allp) / len(allp), 3), subs, tuple(vals), (), len(allp) < 14)


def score_vrsq(items: Sequence[float | None]) -> ScoredInstrument:
    """Virtual Reality Sickness Questionnaire (Kim et al., Appl Ergon 2018): 9 symptoms 0-3 in the order general
    discomfort, fatigue, eyestrain, difficulty focusing (oculomotor), headache, fullness of head, blurred vision,
    dizzy (eyes closed), vertigo (disorientation). Oculomotor = sum / 12 x 100, disorientation = sum / 15 x 100,
    total = their mean (0-100). No missing items allowed."""
    vals = _items("VRSQ", items, 9, 0, 3)
    if any(v is None for v in vals):
        raise ConfigurationError("VRSQ: every item must be answered (no missing-item rule is published)")
    v = [float(x or 0.0) for x in vals]
    ocu = sum(v[:4]) / 12.0 * 100.0
    dis = sum(v[4:]) / 15.0 * 100.0
    return ScoredInstrument("vrsq", round((ocu + dis) / 2.0, 2), {"oculomotor": round(ocu, 2),
                                                                  "disorientation": round(dis, 2)}, tuple(vals))
