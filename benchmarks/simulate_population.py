"""Benchmark of the in-silico policy comparison (fast path) and of the waveform path.

Runs ``run_study`` with 1000 virtual patients x 6 sessions x 3 policies (paired), checks the issue's targets, and
times one 20-minute virtual session through waveform synthesis and the real feature pipeline. Prints one JSON object
as its last line. Usage: ``python benchmarks/simulate_population.py [--patients N] [--sessions K] [--seed S]``
(``--quick``: 50 patients x 2 sessions, a check that the script runs; its target checks are not meaningful then).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("patients", "sessions", "wall_s", "policies", "details", "checks", "waveform_session_20min")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print only the JSON line (always the case)")
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.patients, args.sessions = 50, 2

    from attunexr.features import extract
    from attunexr.simulation import draw_population, load_calibration, run_study
    from attunexr.simulation._physiology import traces_from_fear
    from attunexr.simulation._waveforms import PhysiologyTrace, synthesize_recording

    t0 = time.perf_counter()
    res = run_study(args.patients, args.sessions, ("fixed", "suds", "arousal"), seed=args.seed)
    wall = time.perf_counter() - t0
    pol = res.policies
    checks = {
        "arousal_time_in_window_ge_0.80": pol["arousal"]["time_in_window"] >= 0.80,
        "arousal_overload_le_half_fixed": pol["arousal"]["overload_per_session"]
        <= 0.5 * pol["fixed"]["overload_per_session"],
        "no_escalation_during_signal_loss": all(p["escalations_during_signal_loss"] == 0 for p in pol.values()),
        "wall_le_60s": wall <= 60.0,
    }

    cal = load_calibration()
    pop = draw_population(1, seed=args.seed, calibration=cal)
    fear = np.clip(np.repeat(np.random.default_rng(0).uniform(0, 1, 10), 120), 0, 1)[:, None]
    tr = traces_from_fear(fear, pop, cal, seed=1)
    trace = PhysiologyTrace(*(tr[k][:, 0] for k in ("hr", "lscl", "rmssd", "resp", "scr_rate", "head")),
                            valid=np.ones(1200, dtype=bool))
    t1 = time.perf_counter()
    rec = synthesize_recording(trace, seed=0)
    t2 = time.perf_counter()
    rows = extract(rec)
    t3 = time.perf_counter()
    out = {
        **res.to_json_dict(),
        "wall_s": round(wall, 3),
        "details": res.details,
        "checks": checks,
        "waveform_session_20min": {"synthesize_s": round(t2 - t1, 4), "extract_s": round(t3 - t2, 4),
                                   "rows": len(rows)},
        "quick": args.quick,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
