"""Does the stress detector learn the protocol clock? A check of the long-horizon features on Stress-Predict.

Every Stress-Predict participant follows the same task order, so a model that can tell how long a session has run
could score well without reading the person. The shipped detector has no time input, and its long-horizon features
(distance from the recent peak/trough over 120 windows) pad the missing history at the person's reference level.
This script measures, in the same leave-one-subject-out design as ``attunexr evaluate``:

- the shipped settings and the same detector without long-horizon features and purity training, scored on all
  windows, on windows ending more than 10 and 21 minutes after the recording began (after 21 minutes the 20-minute
  history is always complete, so the features cannot depend on elapsed time), and with rest windows as the only
  negatives (the hard ones: recovery after a stressor);
- time since the start of the recording alone (raw, and capped at 20 minutes) as a score.

Folds run in this process (``n_jobs=1``) so the settings passed here are the ones used. Prints one JSON object as
the last line.

    python benchmarks/time_confound.py [--json] [--quick]

``--quick`` runs three subjects (a check that the script runs, seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

#: compared settings (overrides of the task defaults)
SETTINGS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "without long-horizon features and purity training": {"long": 0, "train_purity": 0},
}
#: windows ending at least this long after the recording's first window (s)
LATE = (0.0, 600.0, 1260.0)


#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = (
    "benchmark",
    "shipped",
    "without long-horizon features and purity training",
    "time_since_start_alone",
    "features_from_cache",
    "wall_s",
)


def _scores(pred: pd.DataFrame, auroc: Any) -> dict[str, Any]:
    elapsed = pred["t_end"] - pred.groupby("subject")["t_end"].transform("min")
    out: dict[str, Any] = {}
    for lo in LATE:
        m = (elapsed >= lo).to_numpy()
        out[f"auroc_after_{int(lo)}s"] = round(
            auroc(pred["y"].to_numpy()[m], pred["probability"].to_numpy()[m]), 4
        )
        out[f"n_after_{int(lo)}s"] = int(m.sum())
    rest = (pred["label"].astype(str) != "baseline").to_numpy()
    out["auroc_rest_only_negatives"] = round(
        auroc(pred["y"].to_numpy()[rest], pred["probability"].to_numpy()[rest]), 4
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = parser.parse_args()
    from attunexr.models import auroc, get_task, loso_predictions, make_detector, targets
    from attunexr.models._data import feature_table

    task = get_task("stress")
    subjects = ["S02", "S03", "S04"] if args.quick else None
    table, cached = feature_table("stress-predict", task.window, task.hop, subjects=subjects)
    y = targets(table["label"], task.positive, task.negative)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"benchmark": "time_confound", "task": "stress", "dataset": "stress-predict"}
    pred = None
    for name, over in SETTINGS.items():

        def factory(over: dict[str, Any] = over) -> Any:
            return make_detector(task, table, **over)

        pred = loso_predictions(table, y, factory, n_jobs=1)
        out[name] = _scores(pred, auroc)
    assert pred is not None
    elapsed = (pred["t_end"] - pred.groupby("subject")["t_end"].transform("min")).to_numpy()
    yy = pred["y"].to_numpy()
    out["time_since_start_alone"] = {
        "auroc_raw": round(auroc(yy, elapsed), 4),
        "auroc_capped_1200s": round(auroc(yy, np.minimum(elapsed, 1200.0)), 4),
    }
    out["features_from_cache"] = cached
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    out["quick"] = args.quick
    if not args.json:
        print(json.dumps(out, indent=2), file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
