"""Selection bias check: nested choice among the development-time candidate settings versus each fixed setting.

The shipped stress settings (context length, running reference, long-horizon length, training-window purity) were
fixed during development by looking at Stress-Predict. This script measures how optimistic that is: in every leave-one-subject-out fold it fits each
candidate on the training subjects only, picks the one with the best inner subject-grouped out-of-fold AUROC
(``oof_auroc_``), and scores the held-out subject with it. It prints the outer AUROC/ECE of that nested procedure
and of each candidate used in every fold. Prints one JSON object as the last line.

    python benchmarks/nested_selection.py [--jobs 2] [--json] [--quick]

``--quick`` runs three subjects (a check that the script runs, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, cast

import numpy as np
import pandas as pd

#: candidate settings compared during development (on top of the task defaults)
CANDIDATES: dict[str, dict[str, Any]] = {
    "shipped (auto family, context 12, running, long 120, purity 3)": {},
    "long 60": {"long": 60},
    "long 30": {"long": 30},
    "long 120, no purity": {"train_purity": 0},
    "previous (no long-horizon features, no purity)": {"long": 0, "train_purity": 0},
    "lightgbm, context 6, no running, no long": {
        "model": "lightgbm",
        "context": 6,
        "running": False,
        "long": 0,
        "train_purity": 0,
    },
}


class _Chooser:
    """Fit every candidate on the training table, keep the best by inner out-of-fold AUROC."""

    def __init__(self, task: Any, table: pd.DataFrame) -> None:
        self.task = task
        self.table = table

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _Chooser:
        from attunexr.models import make_detector

        self.fitted_ = {k: make_detector(self.task, self.table, **v).fit(X, y) for k, v in CANDIDATES.items()}
        self.scores_ = {k: float(d.oof_auroc_) for k, d in self.fitted_.items()}
        self.selected_ = max(self.scores_, key=lambda k: self.scores_[k])
        self.head_ = self.selected_  # reported per window as "selected"
        return self

    def assess(self, X: pd.DataFrame) -> pd.DataFrame:
        out = self.fitted_[self.selected_].assess(X)
        for k, d in self.fitted_.items():
            out[f"p_{k}"] = d.assess(X)["probability"].to_numpy()
        return out


#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = (
    "benchmark", "n_subjects", "n_windows", "nested", "fixed", "times_selected", "optimism_of_shipped_setting",
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = parser.parse_args()
    from attunexr.models import auroc, expected_calibration_error, get_task, loso_predictions, targets
    from attunexr.models._data import feature_table

    task = get_task("stress")
    subjects = ["S02", "S03", "S04"] if args.quick else None
    table, cached = feature_table("stress-predict", task.window, task.hop, subjects=subjects)
    y = targets(table["label"], task.positive, task.negative)
    t0 = time.perf_counter()

    pred = loso_predictions(table, y, lambda: cast(Any, _Chooser(task, table)), n_jobs=args.jobs)
    yy = pred["y"].to_numpy()
    fixed = {
        k: {
            "auroc": round(auroc(yy, pred[f"p_{k}"].to_numpy()), 4),
            "ece": round(expected_calibration_error(yy, pred[f"p_{k}"].to_numpy()), 4),
        }
        for k in CANDIDATES
    }
    chosen = {str(k): int(v) for k, v in pred.groupby("fold")["selected"].first().value_counts().items()}
    nested = {
        "auroc": round(auroc(yy, pred["probability"].to_numpy()), 4),
        "ece": round(expected_calibration_error(yy, pred["probability"].to_numpy()), 4),
    }
    out = {
        "benchmark": "nested_selection",
        "task": "stress",
        "dataset": "stress-predict",
        "protocol": "loso",
        "n_subjects": int(pred["subject"].nunique()),
        "n_windows": int(len(pred)),
        "nested": nested,
        "fixed": fixed,
        "times_selected": chosen,
        "optimism_of_shipped_setting": round(fixed[next(iter(CANDIDATES))]["auroc"] - nested["auroc"], 4),
        "features_from_cache": cached,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
    }
    if not args.json:
        print(json.dumps(out, indent=2), file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
