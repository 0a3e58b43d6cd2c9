"""Does the cue-reactivity analysis recover known truth? Coverage of the group difference and habituation slope.

Each repetition simulates a two-group study of virtual patients with known cue responses
(:func:`attunexr.simulation.simulate_cue_study`: 100 people, half patients, 8 trauma and 8 neutral cues each, the
patients' skin-conductance response to trauma cues larger by a known amount, every response falling by a known
amount per presentation), scores every cue from the synthesized 4 Hz skin conductance with the real scoring rules
and fits the real mixed models. Coverage is the share of repetitions whose 95 % CI contains the true value
(nominal 0.95; with R repetitions its Monte Carlo SE is about sqrt(0.95 * 0.05 / R)).

Usage: ``python benchmarks/reactivity_recovery.py [--reps 200] [--people 100] [--jobs 2] [--quick] [--json]``.
Prints one JSON object ``{"reps", "coverage_group", "coverage_slope", ...}`` as its last line.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

JSON_KEYS = ('reps', 'coverage_group', 'coverage_slope', 'wall_s')


def one_rep(seed: int, people: int) -> dict[str, Any]:
    from attunexr.models import analyse_reactivity
    from attunexr.simulation import CueStudyTruth, simulate_cue_study

    truth = CueStudyTruth()
    recs, parts = simulate_cue_study(people, 8, truth=truth, seed=seed)
    res = analyse_reactivity(recs, ["trauma", "neutral"], participants=parts, group_by="group",
                             measures=("scr_amplitude",))
    grp = res.comparisons["scr_amplitude"]["group_difference"]["patient - control"]["trauma"]
    slope = res.habituation["scr_amplitude"]["slope"]
    latency = res.responses["scr_latency"].mean()
    return {
        "group": grp["value"], "group_ci": grp["ci"], "slope": slope["value"], "slope_ci": slope["ci"],
        "latency": float(latency), "scorable": res.counts["scorable_share"]["scr_amplitude"],
        "true_group": truth.group_effect, "true_slope": truth.slope, "true_latency": truth.latency,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="4 repetitions of 40 people: checks that the benchmark runs")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args()
    reps = 4 if args.quick else args.reps
    people = 40 if args.quick else args.people
    t0 = time.perf_counter()
    seeds = [args.seed + 1000 * k for k in range(reps)]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(one_rep, seeds, [people] * reps))
    else:
        rows = [one_rep(s, people) for s in seeds]
    wall = time.perf_counter() - t0

    def cover(key: str, true: str) -> float:
        return sum(r[f"{key}_ci"][0] <= r[true] <= r[f"{key}_ci"][1] for r in rows) / reps

    def mean(key: str) -> float:
        return sum(r[key] for r in rows) / reps

    out = {
        "reps": reps,
        "people": people,
        "coverage_group": cover("group", "true_group"),
        "coverage_slope": cover("slope", "true_slope"),
        "monte_carlo_se": math.sqrt(0.95 * 0.05 / reps),
        "true_group": rows[0]["true_group"],
        "mean_group_estimate": mean("group"),
        "true_slope": rows[0]["true_slope"],
        "mean_slope_estimate": mean("slope"),
        "true_latency": rows[0]["true_latency"],
        "mean_latency_estimate": mean("latency"),
        "scorable_share": mean("scorable"),
        "wall_s": round(wall, 2),
        "quick": args.quick,
    }
    if not args.json:
        print(f"coverage: group difference {out['coverage_group']:.3f}, habituation slope {out['coverage_slope']:.3f}"
              f" over {reps} repetitions ({wall:.0f} s)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
