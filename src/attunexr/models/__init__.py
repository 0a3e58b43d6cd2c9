"""Detectors validated like clinical prediction models: stress/arousal and cybersickness.

Calibrated, abstaining and explained window classifiers with a scikit-learn interface; leave-one-subject-out and
external evaluation with subject-level bootstrap CIs; model cards and a registry of shipped models.
"""

from attunexr.models._calibration import Calibrator, ConformalGate, youden_threshold
from attunexr.models._card import render_card_html
from attunexr.models._data import extract_table, feature_table
from attunexr.models._detector import (
    NON_FEATURE_COLUMNS,
    TIME_IN_VR,
    ArousalDetector,
    CybersicknessDetector,
    DetectorState,
)
from attunexr.models._estimate import Estimate
from attunexr.models._evaluation import compare_predictions, external_predictions, loso_predictions, summarize
from attunexr.models._metrics import (
    METRIC_NAMES,
    auroc,
    binary_metrics,
    bootstrap_ci,
    calibration_slope_intercept,
    decision_curve,
    expected_calibration_error,
    net_benefit,
    paired_auroc_difference,
    per_subject_metrics,
)
from attunexr.models._motion import (
    FMS_THRESHOLD,
    MOTION_TASKS,
    MotionClassifier,
    MotionEvaluation,
    MotionHistory,
    MotionSicknessModel,
    ToleranceModel,
    evaluate_motion,
    fit_motion_model,
    fit_tolerance_model,
    motion_table,
    ride_rows,
)
from attunexr.models._motion import HOP as MOTION_HOP
from attunexr.models._motion import WINDOW as MOTION_WINDOW
from attunexr.models._motion_registry import MOTION_MODELS, build_motion_models, load_motion_model
from attunexr.models._reactivity import ReactivityResult, analyse_reactivity, responses_table
from attunexr.models._reactivity_report import (
    reactivity_sentence,
    render_reactivity_report,
    write_reactivity_report,
)
from attunexr.models._registry import (
    MODEL_NAME_PATTERN,
    REGISTRY_DIR,
    available_models,
    list_models,
    load_card,
    load_model,
    load_named_model,
    save_model,
)
from attunexr.models._report import render_report, write_report
from attunexr.models._shift import feature_shift
from attunexr.models._signals import SIGNAL_GROUPS
from attunexr.models._tasks import TASKS, TaskSpec, get_task, targets
from attunexr.models._workflows import (
    EvaluationRun,
    choose_variant,
    dataset_metadata,
    evaluate_bids,
    evaluate_external,
    evaluate_leave_site_out,
    evaluate_loso,
    make_detector,
    train_model,
)

__all__ = [
    "FMS_THRESHOLD",
    "METRIC_NAMES",
    "MODEL_NAME_PATTERN",
    "MOTION_HOP",
    "MOTION_MODELS",
    "MOTION_TASKS",
    "MOTION_WINDOW",
    "NON_FEATURE_COLUMNS",
    "REGISTRY_DIR",
    "SIGNAL_GROUPS",
    "TASKS",
    "TIME_IN_VR",
    "ArousalDetector",
    "Calibrator",
    "ConformalGate",
    "CybersicknessDetector",
    "DetectorState",
    "Estimate",
    "EvaluationRun",
    "MotionClassifier",
    "MotionEvaluation",
    "MotionHistory",
    "MotionSicknessModel",
    "ReactivityResult",
    "TaskSpec",
    "ToleranceModel",
    "analyse_reactivity",
    "auroc",
    "available_models",
    "binary_metrics",
    "bootstrap_ci",
    "build_motion_models",
    "calibration_slope_intercept",
    "choose_variant",
    "compare_predictions",
    "dataset_metadata",
    "decision_curve",
    "evaluate_bids",
    "evaluate_external",
    "evaluate_leave_site_out",
    "evaluate_loso",
    "evaluate_motion",
    "expected_calibration_error",
    "external_predictions",
    "extract_table",
    "feature_shift",
    "feature_table",
    "fit_motion_model",
    "fit_tolerance_model",
    "get_task",
    "list_models",
    "load_card",
    "load_model",
    "load_motion_model",
    "load_named_model",
    "loso_predictions",
    "make_detector",
    "motion_table",
    "net_benefit",
    "paired_auroc_difference",
    "per_subject_metrics",
    "reactivity_sentence",
    "render_card_html",
    "render_reactivity_report",
    "render_report",
    "responses_table",
    "ride_rows",
    "save_model",
    "summarize",
    "targets",
    "train_model",
    "write_reactivity_report",
    "write_report",
    "youden_threshold",
]
