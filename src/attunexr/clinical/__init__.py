"""Clinical instruments: SUDS, FMS, SSQ, GAD-7, PHQ-9, PCL-5 scoring and reliable change (Jacobson & Truax 1991)."""

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

__all__ = [
    "RELIABILITY_NORMS",
    "SSQ_ITEMS",
    "InstrumentResult",
    "ReliableChange",
    "SSQScore",
    "reliable_change",
    "reliable_change_index",
    "score_fms",
    "score_gad7",
    "score_pcl5",
    "score_phq9",
    "score_ssq",
    "score_suds",
]
