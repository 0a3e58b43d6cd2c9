"""Size and cost of FHIR session bundles for Stress-Predict subjects.

For each subject: features are extracted once (not timed here), then ``session_bundle`` (R4B transaction, with the
``stress`` detector's estimates) is built, written and read back (validated). Reports median build/write/read times
in ms, bundle entries, bytes per session-hour, for each summary period.

Usage: ``python benchmarks/fhir_export.py [--subjects N] [--data-dir DIR] [--quick]``; last line is one JSON object
(``--quick``: one subject, its first 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from attunexr.features import extract
from attunexr.interop import read_bundle, session_bundle, write_bundle
from attunexr.io.datasets import get_dataset
from attunexr.models import load_model

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("benchmark", "subjects", "median_session_hours", "by_period_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=5)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true", help="print only the JSON line (always the case)")
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.subjects = 1
    ds = get_dataset("stress-predict")
    model = load_model("stress")
    results: dict[str, dict[str, list[float]]] = {}
    hours = []
    with tempfile.TemporaryDirectory() as tmp:
        for subject in ds.subjects(data_dir=args.data_dir)[: args.subjects]:
            rec = ds.load(subject, data_dir=args.data_dir)
            if args.quick:
                rec = rec.crop(rec.t_start, rec.t_start + 600.0)
            feats = extract(rec)
            ests = model.estimate(feats)
            hours.append(float(feats["t_end"].max() - feats["t_start"].min()) / 3600.0)
            for every in (60, 300):
                r = results.setdefault(
                    str(every),
                    {"build_ms": [], "write_ms": [], "read_ms": [], "entries": [], "bytes_per_hour": []},
                )
                t0 = time.perf_counter()
                bundle = session_bundle(
                    feats, f"bench-{subject}", estimates=ests, every=every, start_time=rec.meta.start_time
                )
                t1 = time.perf_counter()
                path = write_bundle(bundle, Path(tmp) / f"{subject}-{every}.json")
                t2 = time.perf_counter()
                read_bundle(path)
                t3 = time.perf_counter()
                r["build_ms"].append((t1 - t0) * 1e3)
                r["write_ms"].append((t2 - t1) * 1e3)
                r["read_ms"].append((t3 - t2) * 1e3)
                r["entries"].append(len(bundle.entry))
                r["bytes_per_hour"].append(path.stat().st_size / hours[-1])
    summary = {
        "benchmark": "fhir_export",
        "subjects": len(hours),
        "median_session_hours": round(float(np.median(hours)), 3),
        "by_period_s": {
            k: {m: round(float(np.median(v)), 1) for m, v in r.items()} for k, r in results.items()
        },
        "quick": args.quick,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
