"""The federation as deployed: separate Flower processes over TLS on this machine, timed end to end.

Runs ``attunexr federated run`` as a user would (its own process; SuperLink and SuperNodes as further processes):

- ``default``: the two stress sites, R rounds (5), TLS, with the leave-site-out runs and the centralized comparison:
  wall time (the issue's bound: <= 300 s), bytes sent per site, per-site AUROC federated vs pooled vs local;
- ``secagg``: three sites (``nurse-stress@1/2``, ``nurse-stress@2/2``, ``stress-predict``) with SecAgg+, R rounds
  (2), no leave-site-out: wall time, bytes per site (SecAgg+ adds key and share messages), per-site AUROC;
- ``dp`` (optional, ``--dp``): the two sites with server-side clipping and noise: AUROC and epsilon.

    python benchmarks/federated_deploy.py --json [--quick] [--dp]

``--quick``: 1 round, two sites, no leave-site-out, no SecAgg+ (a check that the deployment runs).
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

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("benchmark", "default", "secagg", "dp", "quick")
CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'attunexr'; from attunexr.cli import main; main()"]


def _run(args: list[str], work: Path) -> dict[str, Any]:
    out = work / "out.json"
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    proc = subprocess.run([*CLI, "federated", "run", *args, "--work-dir", str(work), "--json", str(out)],
                          capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"federated run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    per_site = {
        s: {"federated": v["federated"]["value"] if v.get("federated") else None,
            "pooled": (v.get("pooled") or {}).get("value"), "local": (v.get("local") or {}).get("value"),
            "federated_minus_pooled": v.get("federated_minus_pooled")}
        for s, v in result["vs_pooled"].items()
    }
    return {
        "command": "attunexr federated run " + " ".join(args),
        "process_wall_s": round(wall, 1),
        "wall_s": result["wall_s"],
        "status": result["status"],
        "rounds": result["rounds"],
        "strategy": result["strategy"],
        "bytes_sent_per_site": result["bytes_sent_per_site"],
        "per_site_auroc": {s: result["per_site"][s]["auroc"] for s in result["sites"]},
        "vs_pooled": per_site,
        "leave_site_out": result["leave_site_out"],
        "privacy": result.get("privacy"),
        "run_wall_s": result.get("run_wall_s"),
        "notes": result.get("notes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="Print the result as one JSON line.")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 sites, no SecAgg+ (a smoke check).")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds of the default run.")
    parser.add_argument("--secagg-rounds", type=int, default=2, help="Rounds of the SecAgg+ run.")
    parser.add_argument("--dp", action="store_true", help="Also a run with differential privacy.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.quick:
            default = _run(["--sites", "stress-predict,nurse-stress", "--rounds", "1", "--no-leave-site-out"],
                           root / "default")
            secagg = None
        else:
            default = _run(["--sites", "stress-predict,nurse-stress", "--rounds", str(args.rounds)],
                           root / "default")
            secagg = _run(["--sites", "nurse-stress@1/2,nurse-stress@2/2,stress-predict", "--rounds",
                           str(args.secagg_rounds), "--secagg", "--no-leave-site-out"], root / "secagg")
        dp = None
        if args.dp and not args.quick:
            dp = _run(["--sites", "stress-predict,nurse-stress", "--rounds", str(args.rounds), "--dp-noise", "1.0",
                       "--dp-clip", "1.0", "--no-leave-site-out"], root / "dp")
    result = {"benchmark": "federated_deploy", "default": default, "secagg": secagg, "dp": dp,
              "quick": bool(args.quick)}
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
