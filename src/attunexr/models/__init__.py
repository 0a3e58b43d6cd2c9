"""Detectors validated like clinical prediction models: stress/arousal and cybersickness.

Calibrated, abstaining and explained window classifiers with a scikit-learn interface; leave-one-subject-out and
external evaluation with subject-level bootstrap CIs; model cards and a registry of shipped models.
"""

from attunexr.models._calibration import Calibrator, ConformalGate, youden_threshold
from attunexr.models._detector import NON_FEATURE_COLUMNS, TIME_IN_VR, ArousalDetector, CybersicknessDetector
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
from attunexr.models._registry import REGISTRY_DIR, list_models, load_card, load_model, save_model
from attunexr.models._report import render_report, write_report
from attunexr.models._tasks import TASKS, TaskSpec, get_task, targets
from attunexr.models._workflows import (
    EvaluationRun,
    evaluate_bids,
    evaluate_external,
    evaluate_leave_site_out,
    evaluate_loso,
    make_detector,
    train_model,
)

__all__ = [
    "compare_predictions",
    "METRIC_NAMES",
    "NON_FEATURE_COLUMNS",
    "REGISTRY_DIR",
    "TASKS",
    "TIME_IN_VR",
    "ArousalDetector",
    "Calibrator",
    "ConformalGate",
    "CybersicknessDetector",
    "Estimate",
    "EvaluationRun",
    "TaskSpec",
    "auroc",
    "binary_metrics",
    "bootstrap_ci",
    "calibration_slope_intercept",
    "decision_curve",
    "net_benefit",
    "paired_auroc_difference",
    "evaluate_bids",
    "evaluate_external",
    "evaluate_leave_site_out",
    "evaluate_loso",
    "expected_calibration_error",
    "external_predictions",
    "get_task",
    "list_models",
    "load_card",
    "load_model",
    "loso_predictions",
    "make_detector",
    "per_subject_metrics",
    "render_report",
    "save_model",
    "summarize",
    "targets",
    "train_model",
    "write_report",
    "youden_threshold",
]
