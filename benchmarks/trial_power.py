"""Coverage and power of the trial's primary analysis, by simulation on the default three-arm protocol.

Builds one pool of virtual patients with potential outcomes under every arm (the simulator runs the AI-adaptive and
fixed-schedule policies on the same patients; usual care is the natural-course assumption), so the true effect of
AI-adaptive minus standard VR in the eligible population is known. Each repetition runs a whole trial on
participants drawn from the pool through the same screening, concealed randomization, visits, dropout and primary
mixed model as ``attunexr trial simulate`` (:func:`attunexr.trials.simulate_power`) and records whether the 95 % CI
covers the true effect and excludes 0. The repetitions fit the model with the closed-form REML engine (same design,
same estimates as statsmodels MixedLM); the first repetitions are also fitted with statsmodels and the largest
difference is reported as ``engine_max_abs_diff``.

Simulated effects are assumptions, not evidence.

Usage: ``python benchmarks/trial_power.py [--json] [--quick] [--reps N] [--per-arm N] [--pool N] [--seed S]``.
Prints ``{"reps", "coverage", "power", "wall_s", ...}`` (with ``--json`` as the only output line).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

JSON_KEYS = ('reps', 'coverage', 'power', 'wall_s')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true", help="print only the JSON result")
    ap.add_argument("--quick", action="store_true", help="few repetitions (CI smoke run), same keys")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--per-arm", type=int, default=100)
    ap.add_argument("--pool", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    reps = args.reps or (10 if args.quick else 200)
    pool_n = args.pool or (300 if args.quick else 1000)

    from attunexr.trials import default_protocol, simulate_power

    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate_power(default_protocol(), args.per_arm, reps, seed=args.seed, pool_size=pool_n,
                         check_engine=1 if args.quick else 3)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0  # the machine may be shared: CPU time says what the benchmark itself costs
    out = {"reps": res.reps, "coverage": res.coverage, "power": res.power, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           **{k: v for k, v in asdict(res).items() if k not in ("reps", "coverage", "power")}, "pool": pool_n,
           "note": "simulated effects are assumptions, not evidence", "quick": args.quick}
    if not args.json:
        print(f"{reps} trials of {args.per_arm} per arm: coverage {res.coverage}, power {res.power}, {out['wall_s']} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
