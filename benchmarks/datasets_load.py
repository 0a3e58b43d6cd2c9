"""Time loading every subject of the real datasets (Recording with labels) and the label check.

Usage: ``python benchmarks/datasets_load.py [--data-dir DIR] [--quick]``; the last line printed is one JSON object
(``--json`` is accepted: the output is that line only anyway).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from attunexr.io.datasets import get_dataset

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("stress-predict", "vr-cybersickness", "quick")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true", help="print only the JSON line (always the case)")
    parser.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = parser.parse_args()
    out: dict[str, object] = {"quick": args.quick}
    for name in ("stress-predict", "vr-cybersickness"):
        ds = get_dataset(name)
        times = []
        samples = 0
        for subject in ds.subjects(args.data_dir)[: 2 if args.quick else None]:
            t = time.perf_counter()
            rec = ds.load(subject, args.data_dir)
            times.append(time.perf_counter() - t)
            samples += sum(s.n_samples for s in rec.streams.values())
        out[name] = {
            "subjects": len(times),
            "load_median_s": round(statistics.median(times), 4),
            "load_max_s": round(max(times), 4),
            "load_total_s": round(sum(times), 3),
            "samples": samples,
        }
    sp = get_dataset("stress-predict")
    t = time.perf_counter()
    report = sp.agreement(args.data_dir)  # type: ignore[attr-defined]
    out["stress-predict"]["agreement_s"] = round(time.perf_counter() - t, 4)  # type: ignore[index]
    out["stress-predict"]["agreement_overall"] = round(report.overall, 6)  # type: ignore[index]
    out["stress-predict"]["agreement_min_subject"] = min(report.per_subject.items(), key=lambda kv: kv[1])  # type: ignore[index]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
