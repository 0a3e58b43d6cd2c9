"""Signal processing: filters, resampling, beat detection, beat-interval cleaning, EDA decomposition, quality.

Every stateful stage here is causal and carries its state, so it gives the same output whether a signal is fed
whole (offline) or chunk by chunk (live).
"""

from attunexr.signals._beats import (
    ECG_PARAMS,
    PPG_PARAMS,
    BlockPeakDetector,
    DetectorParams,
    ecg_peaks,
    ppg_peaks,
)
from attunexr.signals._eda import SCR_AMPLITUDE_MIN, EdaDecomposer, ScrEvents, eda_decompose, scr_detect
from attunexr.signals._filters import CausalFilter, butter_sos, filter_causal, filter_zero_phase
from attunexr.signals._intervals import clean_intervals
from attunexr.signals._quality import (
    SignalQuality,
    clipping_fraction,
    flatline_fraction,
    missing_fraction,
    motion_index,
    signal_quality,
)
from attunexr.signals._resample import resample_irregular
from attunexr.signals._ring import ArrayBuffer
from attunexr.signals._types import BoolArray, FloatArray, IntArray

__all__ = [
    "ECG_PARAMS",
    "PPG_PARAMS",
    "SCR_AMPLITUDE_MIN",
    "ArrayBuffer",
    "BlockPeakDetector",
    "BoolArray",
    "CausalFilter",
    "DetectorParams",
    "EdaDecomposer",
    "FloatArray",
    "IntArray",
    "ScrEvents",
    "SignalQuality",
    "butter_sos",
    "clean_intervals",
    "clipping_fraction",
    "ecg_peaks",
    "eda_decompose",
    "filter_causal",
    "filter_zero_phase",
    "flatline_fraction",
    "missing_fraction",
    "motion_index",
    "ppg_peaks",
    "resample_irregular",
    "scr_detect",
    "signal_quality",
]
