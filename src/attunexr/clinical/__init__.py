"""Clinical instruments: SUDS, FMS, SSQ, GAD-7, PHQ-9, PHQ-A, PCL-5, AQ, FSQ, IPQ, VRSQ scoring and reliable change
(Jacobson & Truax 1991)."""

from attunexr.clinical._instruments import (
    SSQ_ITEMS,
    InstrumentResult,
    SSQScore,
    score_fms,
    score_gad7,
    score_pcl5,
    score_phq9,
    score_ssq,
    score_suds,
)
from attunexr.clinical._reliable_change import (
    RELIABILITY_NORMS,
    ReliableChange,
    reliable_change,
    reliable_change_index,
)
from attunexr.clinical._trial_instruments import (
    INSTRUMENT_RANGES,
    IPQ_SUBSCALES,
    ScoredInstrument,
    check_instrument_total,
    score_aq,
    score_fsq,
    score_ipq,
    score_phqa,
    score_vrsq,
)

__all__ = [
    "INSTRUMENT_RANGES",
    "IPQ_SUBSCALES",
    "RELIABILITY_NORMS",
    "SSQ_ITEMS",
    "InstrumentResult",
    "ReliableChange",
    "SSQScore",
    "ScoredInstrument",
    "check_instrument_total",
    "reliable_change",
    "reliable_change_index",
    "score_aq",
    "score_fms",
    "score_fsq",
    "score_gad7",
    "score_ipq",
    "score_pcl5",
    "score_phq9",
    "score_phqa",
    "score_ssq",
    "score_suds",
    "score_vrsq",
]
