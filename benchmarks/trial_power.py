"""Coverage and power of the trial's primary analysis, by simulation on the default three-arm protocol.

Builds one pool of virtual patients with potential outcomes under every arm (the simulator runs the AI-adaptive and
fixed-schedule policies on the same patients; usual care is the natural-course assumption), so the true effect of
AI-adaptive minus standard VR in the eligible population is known. Each repetition then runs a whole trial on
participants drawn from the pool through the same screening, concealed randomization, visits, dropout and primary
mixed model as ``attunexr trial simulate`` and records whether the 95 % CI covers the true effect and excludes 0.
The repetitions fit the model with the closed-form REML engine (same design, same estimates as statsmodels
MixedLM); the first repetitions are also fitted with statsmodels and the largest difference is reported.

Simulated effects are assumptions, not evidence.

Usage: ``python benchmarks/trial_power.py [--json] [--quick] [--reps N] [--per-arm N] [--pool N] [--seed S]``.
Prints ``{"reps", "coverage", "power", "wall_s", ...}`` (with ``--json`` as the only output line).
"""

from __future__ import annotations

import argparse
import json
import math
import time


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

    from attunexr.trials import build_pool, default_protocol, fit_primary_model, simulate_trial

    t0 = time.perf_counter()
    prot = default_protocol()
    exp, comp = prot.analysis.comparison
    pool = build_pool(prot, pool_n, seed=args.seed)
    truth = pool.true_effect(exp, comp)
    t_pool = time.perf_counter() - t0
    covered = significant = 0
    effects = []
    engine_diff = 0.0
    for r in range(reps):
        data = simulate_trial(prot, args.per_arm, seed=args.seed * 100_003 + r + 1, pool=pool)
        res = fit_primary_model(data, engine="closed_form")
        c = res.primary
        assert c is not None
        if r < (1 if args.quick else 3):
            ref = fit_primary_model(data).primary
            assert ref is not None
            engine_diff = max(engine_diff, abs(ref.effect - c.effect), abs(ref.ci[0] - c.ci[0]))
        effects.append(c.effect)
        covered += int(c.ci[0] <= truth <= c.ci[1])
        significant += int(c.ci[1] < 0 or c.ci[0] > 0)
    wall = time.perf_counter() - t0
    mean_eff = sum(effects) / len(effects)
    sd_eff = math.sqrt(sum((e - mean_eff) ** 2 for e in effects) / max(len(effects) - 1, 1))
    out = {"reps": reps, "coverage": round(covered / reps, 4), "power": round(significant / reps, 4),
           "wall_s": round(wall, 1), "true_effect": round(truth, 3), "mean_estimate": round(mean_eff, 3),
           "sd_estimate": round(sd_eff, 3), "per_arm": args.per_arm, "pool": pool_n, "pool_s": round(t_pool, 1),
           "engine_max_abs_diff": round(engine_diff, 4), "contrast": f"{exp} - {comp}",
           "note": "simulated effects are assumptions, not evidence"}
    if not args.json:
        print(f"{reps} trials of {args.per_arm} per arm: coverage {out['coverage']}, power {out['power']}, "
              f"{out['wall_s']} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
