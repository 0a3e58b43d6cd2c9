"""Windowed physiological features, one implementation with two drivers.

:func:`extract` computes the rows of a whole recording; :class:`FeatureStream` computes the same rows live from
chunks. Column names: :data:`ID_COLUMNS`, :data:`FEATURE_COLUMNS`, :data:`QUALITY_COLUMNS` (the device-reported
heart-rate group, part of :data:`FEATURE_COLUMNS`, is also :data:`DEVICE_HR_COLUMNS`; every signal group has its own
constant, e.g. :data:`CARDIAC_COLUMNS`). No feature encodes the time
since the start of a recording (``t_start``/``t_end`` are identifiers only).
"""

from attunexr.features._columns import (
    CARDIAC_COLUMNS,
    DEVICE_HR_COLUMNS,
    EDA_COLUMNS,
    FEATURE_COLUMNS,
    GAZE_COLUMNS,
    HEAD_MOTION_COLUMNS,
    ID_COLUMNS,
    MOTION_COLUMNS,
    QUALITY_COLUMNS,
    RESP_COLUMNS,
    TEMP_COLUMNS,
)
from attunexr.features._cues import (
    CUE_RESPONSE_MEASURES,
    Cue,
    CueResponse,
    CueRules,
    LiveCueScorer,
    cues_from_recording,
    score_cue,
    score_cues,
)
from attunexr.features._extract import extract, extract_many
from attunexr.features._stream import FeatureStream

__all__ = [
    "CARDIAC_COLUMNS",
    "CUE_RESPONSE_MEASURES",
    "DEVICE_HR_COLUMNS",
    "EDA_COLUMNS",
    "FEATURE_COLUMNS",
    "GAZE_COLUMNS",
    "HEAD_MOTION_COLUMNS",
    "ID_COLUMNS",
    "MOTION_COLUMNS",
    "QUALITY_COLUMNS",
    "RESP_COLUMNS",
    "TEMP_COLUMNS",
    "Cue",
    "CueResponse",
    "CueRules",
    "FeatureStream",
    "LiveCueScorer",
    "cues_from_recording",
    "extract",
    "extract_many",
    "score_cue",
    "score_cues",
]
