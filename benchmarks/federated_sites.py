"""Federated sites in one process: load times, FedAvg versus pooled and local models, and the cost of DP.

Measures, for the two stress sites (``stress-predict``, ``nurse-stress``):

- ``load``: the first :func:`attunexr.federated.load_site` into an empty site cache (features from the project's
  feature cache when it is warm) and a cached load in a *fresh process* (what every Flower message pays), both the
  call itself and the whole process (interpreter and imports included);
- ``fedavg``: :func:`simulate_fedavg` (FedAvg, 5 local epochs) after each number of rounds, beside the centralized
  references of :func:`centralized_comparison` with as many gradient steps: held-out AUROC per site with subject
  bootstrap CIs, and the largest federated-minus-pooled gap;
- ``leave_site_out``: federated with one site held out (it trains nothing) vs pooled on the other sites vs the site's
  own local model, on the held-out site's test people;
- ``dp``: AUROC with server-side fixed clipping and Gaussian noise (mean and range over noise seeds) and the
  privacy budget :func:`gaussian_epsilon` of the run.

    python benchmarks/federated_sites.py --json [--quick]

``--quick``: 2 rounds, 20 bootstrap resamples, 2 noise seeds (a check that the script runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("benchmark", "load", "fedavg", "leave_site_out", "dp", "quick")
SITES = ("stress-predict", "nurse-stress")
EPOCHS = 5
#: update clipping norm of the DP runs: about the norm of a site's update after the first rounds (5 local steps
#: of 0.1), fixed in advance rather than taken from the data of the run
CLIP_NORM = 0.1
DELTA = 1e-5

_CHILD = """
import sys, time, json, pathlib
t0 = time.perf_counter()
from attunexr.federated import load_site
t1 = time.perf_counter()
site = load_site(sys.argv[1], cache_dir=pathlib.Path(sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1}))
"""


def _round(ev: dict[str, float]) -> dict[str, Any]:
    return {"value": round(ev["auroc"], 4), "ci": [round(ev["auroc_ci_low"], 4), round(ev["auroc_ci_high"], 4)]}


def _load_times(cache: Path) -> dict[str, Any]:
    from attunexr.federated import load_site

    out: dict[str, Any] = {}
    for name in SITES:
        t0 = time.perf_counter()
        load_site(name, cache_dir=cache)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _CHILD, name, str(cache)], capture_output=True, text=True,
                              check=True, env=os.environ.copy())
        wall = time.perf_counter() - t0
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        out[name] = {"first_load_s": round(first, 2), "cached_load_s": round(child["load_s"], 3),
                     "cached_import_s": round(child["import_s"], 3), "cached_process_wall_s": round(wall, 2)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)

    from attunexr.federated import centralized_comparison, gaussian_epsilon, load_site, simulate_fedavg

    rounds_list = [2] if args.quick else [5, 20]
    n_boot = 20 if args.quick else 500
    noise_seeds = 2 if args.quick else 10
    result: dict[str, Any] = {"benchmark": "federated_sites", "quick": bool(args.quick), "epochs": EPOCHS,
                              "lr": 0.1}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        result["load"] = _load_times(cache)
        sites = [load_site(n, cache_dir=cache) for n in SITES]
    result["sites"] = {s.name: {"n_train_subjects": s.n_train_subjects, "n_test_subjects": s.n_test_subjects,
                                "n_train_windows": s.n_train, "n_test_windows": s.n_test} for s in sites}
    fedavg: dict[str, Any] = {}
    for rounds in rounds_list:
        fed = simulate_fedavg(sites, rounds, EPOCHS, n_boot=n_boot)
        ref = centralized_comparison(sites, epochs_equiv=rounds * EPOCHS, n_boot=n_boot)
        per = {s.name: {"federated": _round(fed.per_site[s.name]), **ref["per_site"][s.name]} for s in sites}
        fedavg[str(rounds)] = {
            "per_site": per,
            "max_abs_gap_federated_vs_pooled": round(max(
                abs(p["federated"]["value"] - p["pooled"]["value"]) for p in per.values()), 4),
            "fedprox_mu_0.1": {n: _round(v) for n, v in simulate_fedavg(
                sites, rounds, EPOCHS, proximal_mu=0.1, n_boot=n_boot).per_site.items()},
        }
    result["fedavg"] = fedavg
    rounds = rounds_list[-1]
    ref = centralized_comparison(sites, epochs_equiv=rounds * EPOCHS, n_boot=n_boot)
    lso: dict[str, Any] = {}
    for s in sites:
        held = simulate_fedavg(sites, rounds, EPOCHS, holdout=s.name, n_boot=n_boot)
        lso[s.name] = {"federated": _round(held.per_site[s.name]), "pooled": ref["leave_site_out_pooled"][s.name],
                       "local": ref["per_site"][s.name]["local"]}
    result["leave_site_out"] = {"rounds": rounds, "per_site": lso}
    dp: dict[str, Any] = {"clip_norm": CLIP_NORM, "delta": DELTA, "rounds": rounds, "noise_seeds": noise_seeds,
                          "no_noise_clipped_only": {n: round(v["auroc"], 4) for n, v in simulate_fedavg(
                              sites, rounds, EPOCHS, clip_norm=CLIP_NORM, n_boot=0).per_site.items()}}
    for sigma in (0.5, 1.0):
        aucs: dict[str, list[float]] = {s.name: [] for s in sites}
        for seed in range(noise_seeds):
            run = simulate_fedavg(sites, rounds, EPOCHS, clip_norm=CLIP_NORM, noise_multiplier=sigma, seed=seed,
                                  n_boot=0)
            for n, v in run.per_site.items():
                aucs[n].append(v["auroc"])
        dp[f"sigma_{sigma}"] = {
            "epsilon": round(gaussian_epsilon(sigma, rounds, DELTA), 2),
            "per_site": {n: {"mean": round(float(np.mean(a)), 4), "min": round(float(np.min(a)), 4),
                             "max": round(float(np.max(a)), 4)} for n, a in aucs.items()},
        }
    result["dp"] = dp
    line = json.dumps(result)
    if not args.json:
        print(json.dumps(result, indent=2))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
