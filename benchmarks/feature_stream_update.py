"""Incremental cost of FeatureStream per 1-s hop for live sessions (E4 BVP/EDA/TEMP/ACC + Polar H10 ECG 130 Hz).

Each VR-cybersickness session is replayed second by second (``Recording.iter_chunks(1.0)``, one chunk per stream
per second) into ``FeatureStream(window=60, hop=1)``; the time of all pushes of one second, including the row
emitted for that second, is one sample. Hops before the first full window (no row) are reported separately.
``median_ms``/``p99_ms`` are wall-clock times; ``median_cpu_ms``/``p99_cpu_ms`` are the thread's CPU time for the
same hops, which is what a hop costs when other processes compete for the cores.

Usage: ``python benchmarks/feature_stream_update.py [--json] [--subjects N] [--quick]``; last line is one JSON
object (``--quick``: two sessions cropped to 100 s).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

from attunexr.features import FeatureStream
from attunexr.io.datasets import get_dataset
from attunexr.recording import Chunk

STREAMS = ("bvp", "eda", "temp", "acc", "ecg")


#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("sessions", "hops_with_row", "median_ms", "p99_ms", "median_cpu_ms", "p99_cpu_ms", "window_s", "hop_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print only the JSON summary")
    ap.add_argument("--subjects", type=int, default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.subjects = 3
    ds = get_dataset("vr-cybersickness")
    emitting: list[float] = []
    emitting_cpu: list[float] = []
    warmup: list[float] = []
    sessions = 0
    for subject in ds.subjects(data_dir=args.data_dir)[: args.subjects]:
        rec = ds.load(subject, data_dir=args.data_dir)
        if args.quick:
            rec = rec.crop(rec.t_start, rec.t_start + 100.0)
        names = [n for n in STREAMS if n in rec.streams]
        if "ecg" not in names:
            continue
        sessions += 1
        per_second: dict[int, list[Chunk]] = defaultdict(list)
        t0 = rec.t_start
        for chunk in rec.iter_chunks(1.0, names):
            per_second[int((chunk.t_first - t0) // 1.0)].append(chunk)
        fs = FeatureStream(window=60.0, hop=1.0, lateness=0.0)
        for sec in sorted(per_second):
            start = time.perf_counter()
            start_cpu = time.thread_time()
            rows = []
            for chunk in per_second[sec]:
                rows.extend(fs.push(chunk))
            elapsed_cpu = (time.thread_time() - start_cpu) * 1000.0
            elapsed = (time.perf_counter() - start) * 1000.0
            (emitting if rows else warmup).append(elapsed)
            if rows:
                emitting_cpu.append(elapsed_cpu)
    e = np.asarray(emitting)
    out = {
        "sessions": sessions,
        "hops_with_row": int(e.size),
        "median_ms": round(float(np.median(e)), 4),
        "p99_ms": round(float(np.percentile(e, 99)), 4),
        "mean_ms": round(float(e.mean()), 4),
        "median_cpu_ms": round(float(np.median(emitting_cpu)), 4),
        "p99_cpu_ms": round(float(np.percentile(emitting_cpu, 99)), 4),
        "warmup_median_ms": round(float(np.median(warmup)), 4) if warmup else None,
        "window_s": 60.0,
        "hop_s": 1.0,
        "streams": list(STREAMS),
        "quick": args.quick,
    }
    if not args.json:
        print(
            f"{sessions} sessions, {e.size} hops with a row: median {out['median_ms']} ms, p99 {out['p99_ms']} ms"
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
