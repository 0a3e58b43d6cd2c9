"""Server memory and sign-in latency under a burst of parallel sign-ins.

Starts ``attunexr serve`` in its own process on a free loopback port (SQLite in a temporary folder, an admin made
from ``$ATTUNEXR_ADMIN_PASSWORD``), signs in once to warm up, then sends ``--parallel`` sign-ins at once (the right
password, so every one runs Argon2id at 64 MiB) and reports the server's resident memory before the burst, its peak
during the burst (``VmHWM`` from ``/proc``), and the latency of each sign-in. At most
``Settings.max_parallel_password_checks`` (2) Argon2 computations run at once, so the peak stays near the baseline
plus two hashes instead of growing with the number of parallel sign-ins.

Traffic goes to 127.0.0.1 only; the burst is one bounded round of requests.

Usage: ``python benchmarks/login_burst.py --parallel 16 [--json] [--out result.json] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

JSON_KEYS = ('parallel', 'ok', 'rss_before_mib', 'peak_rss_mib', 'growth_mib', 'latency_s')

PASSWORD = "cobalt pelican marmalade"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def run(parallel: int) -> dict[str, Any]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ATTUNEXR_ADMIN_PASSWORD": PASSWORD}
        proc = subprocess.Popen([sys.executable, "-c", "from attunexr.cli import main; main()", "serve", "--port",
                                 str(port), "--data", tmp, "--create-admin", "bench"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"attunexr serve stopped: {proc.stderr.read() if proc.stderr else ''}")
                try:
                    if httpx.get(url + "/login", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            body = {"username": "bench", "password": PASSWORD}
            assert httpx.post(url + "/api/auth/token", json=body, timeout=60).status_code == 200  # warm-up
            before = _mib(proc.pid, "VmRSS")
            latencies: list[float] = []
            codes: list[int] = []
            start = threading.Barrier(parallel)

            def one() -> None:
                start.wait()
                t0 = time.perf_counter()
                r = httpx.post(url + "/api/auth/token", json=body, timeout=120)
                latencies.append(time.perf_counter() - t0)
                codes.append(r.status_code)

            threads = [threading.Thread(target=one) for _ in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            peak = _mib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"parallel": parallel, "status_codes": sorted(set(codes)), "ok": codes.count(200),
            "rss_before_mib": round(before, 1), "peak_rss_mib": round(peak, 1),
            "growth_mib": round(peak - before, 1),
            "latency_s": {"p50": round(statistics.median(latencies), 3), "max": round(max(latencies), 3)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=16, help="sign-ins sent at once (default 16)")
    parser.add_argument("--quick", action="store_true", help="4 parallel sign-ins (for CI)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH", help="also write the result to this file")
    args = parser.parse_args()
    result = {**run(4 if args.quick else args.parallel), "quick": args.quick}
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2))
    if not args.json:
        print(f"{result['parallel']} parallel sign-ins: {result['ok']} ok; server RSS {result['rss_before_mib']} MiB "
              f"before, peak {result['peak_rss_mib']} MiB (+{result['growth_mib']} MiB); latency p50 "
              f"{result['latency_s']['p50']} s, max {result['latency_s']['max']} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
