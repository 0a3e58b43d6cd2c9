"""Virtual patients for in-silico evaluation of exposure policies (not clinical evidence).

Latent fear with habituation and sensitization, physiology calibrated on Stress-Predict, waveforms for the real
feature pipeline, a vectorised fast path for large populations, and paired policy comparisons. A live virtual patient
(:class:`VirtualPatientSource`) runs the same model as a sensor source for demos and load tests.
"""

from attunexr.simulation._calibration import Calibration, calibrate_from_stress_predict, load_calibration
from attunexr.simulation._closed_loop import ClosedLoopResult, run_closed_loop_session
from attunexr.simulation._cues import CueStudyTruth, simulate_cue_study
from attunexr.simulation._dynamics import latent_step, suds_report
from attunexr.simulation._estimator import WindowArousalEstimator, WindowEstimates
from attunexr.simulation._physiology import (
    FAST_NOISE,
    PhysiologyState,
    fast_window_features,
    physiology_step,
    traces_from_fear,
)
from attunexr.simulation._population import FEAR_AT_LAB_STRESS, Population, draw_population
from attunexr.simulation._report import DISCLAIMER, write_report
from attunexr.simulation._study import (
    METRICS,
    StudyConfig,
    StudyResult,
    arousal_window,
    default_policies,
    population_suds_mapping,
    run_study,
)
from attunexr.simulation._virtual_patient import VirtualPatientSource
from attunexr.simulation._waveforms import PhysiologyTrace, synthesize_recording

__all__ = [
    "DISCLAIMER",
    "FAST_NOISE",
    "FEAR_AT_LAB_STRESS",
    "METRICS",
    "Calibration",
    "ClosedLoopResult",
    "CueStudyTruth",
    "PhysiologyState",
    "PhysiologyTrace",
    "Population",
    "StudyConfig",
    "StudyResult",
    "VirtualPatientSource",
    "WindowArousalEstimator",
    "WindowEstimates",
    "arousal_window",
    "calibrate_from_stress_predict",
    "default_policies",
    "draw_population",
    "fast_window_features",
    "latent_step",
    "load_calibration",
    "physiology_step",
    "population_suds_mapping",
    "run_closed_loop_session",
    "run_study",
    "simulate_cue_study",
    "suds_report",
    "synthesize_recording",
    "traces_from_fear",
    "write_report",
]
