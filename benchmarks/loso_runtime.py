"""Time a whole leave-one-subject-out evaluation of Stress-Predict (stress vs rest, baseline normalization).

Measures the run with features read from the on-disk cache ("cached") and, unless ``--skip-cold``, with feature
extraction included ("cold", into a fresh temporary cache). Also times the live ``estimate`` of the shipped
``stress`` model per feature row. Prints one JSON object as the last line (with ``--json``, only that line).

    python benchmarks/loso_runtime.py --json [--jobs 2] [--skip-cold] [--other-normalizations] [--quick]

``--quick`` evaluates three subjects with 50 bootstrap resamples (a check that the script runs, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("benchmark", "jobs", "cold", "cached", "estimate_latency")
#: subjects of --quick
QUICK_SUBJECTS = ["S02", "S03", "S04"]


def _loso(jobs: int, others: bool, quick: bool = False) -> dict[str, object]:
    from attunexr.models import evaluate_loso, get_task
    from attunexr.models._data import feature_table

    t0 = time.perf_counter()
    if quick:
        task = get_task("stress")
        table, _ = feature_table("stress-predict", task.window, task.hop, subjects=QUICK_SUBJECTS)
        run = evaluate_loso("stress", table=table, n_boot=50, n_jobs=jobs, other_normalizations=others)
    else:
        run = evaluate_loso("stress", n_boot=500, n_jobs=jobs, other_normalizations=others)
    res = run.result
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "feature_extraction_s": res["timing"]["feature_extraction_s"],
        "features_from_cache": res["timing"]["features_from_cache"],
        "auroc": round(res["metrics"]["auroc"]["value"], 4),
        "auroc_ci": [round(v, 4) for v in res["metrics"]["auroc"]["ci"]],
        "ece": round(res["metrics"]["ece"]["value"], 4),
        "abstained_fraction": round(res["abstained_fraction"], 4),
        "auroc_answered": round(res["metrics_answered"]["auroc"]["value"], 4),
        "selection": res.get("selection", {}).get("times_selected"),
        "n_subjects": res["n_subjects"],
        "n_windows": res["n_windows"],
        "normalizations": [res["normalize"], *res.get("other_normalizations", {})],
        "timing_total_s": res["timing"]["total_s"],
    }


def _estimate_latency(n_rows: int = 300, quick: bool = False) -> dict[str, object]:
    from attunexr.models import get_task, load_model
    from attunexr.models._data import feature_table

    task = get_task("stress")
    table, _ = feature_table("stress-predict", task.window, task.hop, subjects=QUICK_SUBJECTS if quick else None)
    sub = table[table["subject"] == ("S02" if quick else "S15")].sort_values("t_end")
    det = load_model("stress")
    det.set_baseline(sub[sub["label"] == "baseline"])
    rows = sub.drop(columns=["label"])
    n = min(n_rows, len(rows))
    singles = [rows.iloc[[i]] for i in range(n)]
    times = []
    for r in singles:
        t0 = time.perf_counter()
        det.estimate(r)
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times) * 1000
    return {
        "rows": n,
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.quantile(ms, 0.95)), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-cold", action="store_true", help="do not time a run with feature extraction")
    parser.add_argument(
        "--other-normalizations",
        action="store_true",
        help="also evaluate the 'none' and 'recording' normalizations in the timed run",
    )
    parser.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = parser.parse_args()
    out: dict[str, object] = {
        "benchmark": "loso_runtime",
        "task": "stress",
        "dataset": "stress-predict",
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "quick": args.quick,
    }
    if not args.skip_cold:
        old = os.environ.get("ATTUNEXR_CACHE")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["ATTUNEXR_CACHE"] = tmp
            out["cold"] = _loso(args.jobs, args.other_normalizations, args.quick)
        if old is None:
            os.environ.pop("ATTUNEXR_CACHE", None)
        else:
            os.environ["ATTUNEXR_CACHE"] = old
    from attunexr.models import get_task
    from attunexr.models._data import feature_table

    task = get_task("stress")
    # make sure the user cache is warm
    feature_table("stress-predict", task.window, task.hop, subjects=QUICK_SUBJECTS if args.quick else None)
    out["cached"] = _loso(args.jobs, args.other_normalizations, args.quick)
    out["estimate_latency"] = _estimate_latency(n_rows=30 if args.quick else 300, quick=args.quick)
    line = json.dumps(out)
    if not args.json:
        print(json.dumps(out, indent=2), file=sys.stderr)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
