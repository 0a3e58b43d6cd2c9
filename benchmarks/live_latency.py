"""Live latency under load: N concurrent VR-client sessions replayed from real recordings over loopback WebSockets.

Each session streams Empatica E4 signals of a Stress-Predict subject (BVP 64 Hz, EDA/TEMP 4 Hz, ACC 32 Hz x3, HR,
IBI), real Polar H10 ECG at 130 Hz from the VR-cybersickness dataset and synthesized 72 Hz head pose, batched as
one binary frame per second, from a client process separate from the server process (uvicorn + uvloop). The server
runs the full pipeline per session: protocol validation, buffers, incremental features, detector, publication to
the VR client and encrypted recording with fsync. Each session first sends one window of history (warm-up, not
measured), then streams in real time for --seconds. Sessions send at random phases within the second and have
random window-grid origins within the hop (independent sessions do not start on a common 10-s grid).

Reports (last line, JSON): sessions, p50_ms / p99_ms (arrival of the chunk that completed a window -> estimate
published, server clock), e2e_p99_ms (client sent the frame -> client received the estimate), dropped_samples
(sent by clients but not processed and recorded by the server), cpu_percent (server process; 100 = one core).

Usage: python benchmarks/live_latency.py --sessions 200 --seconds 60 --json
(``--quick``: 2 sessions, 4 s, hop 2 s: a check that the script runs, not a measurement)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _live_common import SecondFrames, free_port, session_recording  # noqa: E402


# --------------------------------------------------------------------------------------------- detector
def fallback_detector(rows: Any) -> list[Any]:
    """Used only when no trained 'stress' model is registered: logistic in mean HR on the real features."""
    from attunexr.models import Estimate

    out = []
    for t, hr, ok in zip(
        rows["t_end"], rows["hr_mean"], rows.get("quality_ok", [True] * len(rows)), strict=False
    ):
        p = float(1 / (1 + np.exp(-(hr - 80) / 8))) if np.isfinite(hr) else float("nan")
        usable = bool(ok) and np.isfinite(p)
        out.append(
            Estimate(
                float(t), p, p, p, not usable, "" if usable else "poor_signal_quality", {}, "hr-logistic"
            )
        )
    return out


def _load_detector() -> tuple[Any, str]:
    try:
        from attunexr.models import load_model

        det = load_model("stress")
        return det, "stress"
    except Exception as err:  # noqa: BLE001 - report which detector ran
        return fallback_detector, f"hr-logistic (no registered stress model: {type(err).__name__})"


# ----------------------------------------------------------------------------------------------- server
def run_server(port: int, record_dir: str, hop: float, ready: Any) -> None:
    import uvicorn
    from fastapi import FastAPI

    from attunexr.privacy import MasterKey, generate_data_key
    from attunexr.session import SessionManager, create_live_app

    detector, det_name = _load_detector()
    manager = SessionManager(
        detector=detector,
        record_dir=record_dir,
        master_key=MasterKey(generate_data_key()),
        window=60.0,
        hop=hop,
    )
    app: FastAPI = create_live_app(manager)
    marks: dict[str, float] = {}

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    @app.post("/bench/reset")
    async def reset() -> dict[str, Any]:
        for s in manager.sessions.values():
            s.latencies_ms.clear()
        marks["cpu"], marks["wall"] = cpu(), time.perf_counter()
        return {"ok": True}

    @app.get("/bench/report")
    async def report() -> dict[str, Any]:
        lat = np.concatenate([np.asarray(s.latencies_ms) for s in manager.sessions.values()] or [np.zeros(0)])
        wall = time.perf_counter() - marks.get("wall", time.perf_counter())
        return {
            "latencies_ms": lat.tolist(),
            "cpu_percent": 100.0 * (cpu() - marks.get("cpu", 0.0)) / wall if wall > 0 else None,
            "samples_in": {s.session_id: s.samples_in for s in manager.sessions.values()},
            "recorded_samples": {
                s.session_id: s.recorder.n_samples if s.recorder else 0 for s in manager.sessions.values()
            },
            "subscriber_dropped": sum(s.dropped_messages for s in manager.sessions.values()),
            "detector": det_name,
        }

    @app.post("/bench/close")
    async def close() -> dict[str, Any]:
        await manager.close_all()
        return {"ok": True}

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        loop="uvloop",
        ws="websockets-sansio",
        lifespan="on",
        ws_max_size=16 << 20,
        backlog=4096,
        ws_ping_interval=60.0,
        ws_ping_timeout=120.0,
    )
    server = uvicorn.Server(config)
    ready.set()
    server.run()


# ----------------------------------------------------------------------------------------------- client
def run_clients(
    urls: list[str],
    tokens: list[str],
    seconds: int,
    warmup: int,
    start_at: Any,
    result_q: Any,
    data_dir: str | None,
) -> None:
    import uvloop

    uvloop.run(_clients(urls, tokens, seconds, warmup, start_at, result_q, data_dir))


async def _clients(
    urls: list[str],
    tokens: list[str],
    seconds: int,
    warmup: int,
    start_at: Any,
    result_q: Any,
    data_dir: str | None,
) -> None:
    from attunexr.io.datasets import get_dataset
    from attunexr.session import VRClient

    sp = get_dataset("stress-predict")
    vr = get_dataset("vr-cybersickness")
    total = warmup + seconds + 1
    e4s = [sp.load(s, data_dir=data_dir) for s in sp.subjects(data_dir)[:6]]
    ecgs = [r.streams["ecg"] for r in (vr.load(s, data_dir=data_dir) for s in vr.subjects(data_dir)[:4])]
    rng = np.random.default_rng(0)
    frames = []
    for i in range(len(tokens)):
        e4 = e4s[i % len(e4s)]
        offset = float(rng.uniform(0, max(e4.duration - total - 5, 1)))
        rec = session_recording(e4, ecgs[i % len(ecgs)], offset, total, seed=i)
        frames.append(SecondFrames.from_recording(rec, total))
    clients = [
        VRClient(u, tok, binary=True, max_size=16 << 20, ping_interval=None)
        for u, tok in zip(urls, tokens, strict=True)
    ]
    phases = rng.uniform(0, 1, len(tokens))
    cpu0 = time.process_time()

    history_sent = 0
    ready = 0

    async def one(i: int) -> None:
        nonlocal history_sent, ready
        c = clients[i]
        await c.connect(t_now=float(warmup))
        mono0 = time.monotonic() - warmup  # client clock: t = time.monotonic() - mono0
        for k in range(warmup):  # history, sent as fast as the server takes it
            await c.send_chunks(frames[i].chunks[k], sent_at=-1.0)
        history_sent += c.samples_sent
        ready += 1
        if ready == len(tokens):
            result_q.put({"ready": True, "history_sent": history_sent})
        while start_at.value == 0.0:  # the main process starts real time once every server is idle
            await asyncio.sleep(0.05)
        # real time: second k is sent when it is complete, at this session's own phase
        await asyncio.sleep(max(0.0, start_at.value - time.time()) + phases[i])
        base = time.monotonic() - warmup
        for k in range(warmup, warmup + seconds):
            due = base + k + 1
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await c.send_chunks(frames[i].chunks[k])
        del mono0

    await asyncio.gather(*(one(i) for i in range(len(tokens))))
    await asyncio.sleep(3.0)  # let the last estimates arrive
    e2e = [v for c in clients for v in c.e2e_ms if v < 1e6]  # warm-up frames carry sent_at=-1 (excluded)
    sent = [c.samples_sent for c in clients]
    cpu = time.process_time() - cpu0
    for c in clients:
        await c.close()
    result_q.put({"e2e_ms": e2e, "sent": sent, "client_cpu_s": cpu})


#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = (
    "sessions", "seconds", "p50_ms", "p99_ms", "e2e_p50_ms", "e2e_p99_ms", "n_estimates", "dropped_samples",
    "samples_sent", "cpu_percent", "hop_s",
)


# ------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument(
        "--warmup", type=int, default=62, help="seconds of history sent first (one window + lateness)"
    )
    ap.add_argument(
        "--hop", type=float, default=10.0, help="feature hop in seconds (estimates per session = seconds/hop)"
    )
    ap.add_argument("--client-procs", type=int, default=1)
    ap.add_argument(
        "--workers", type=int, default=1, help="server processes; sessions are pinned round-robin"
    )
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true", help="print only the JSON result")
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.seconds, args.hop = 2, 4, 2.0

    import httpx

    ctx = mp.get_context("spawn")
    tmp = tempfile.TemporaryDirectory(prefix="axr-bench-")
    ports = [free_port() for _ in range(args.workers)]
    servers = []
    for w, port in enumerate(ports):
        ready = ctx.Event()
        pr = ctx.Process(target=run_server, args=(port, f"{tmp.name}/w{w}", args.hop, ready), daemon=True)
        pr.start()
        ready.wait(60)
        servers.append(pr)
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    for base in bases:
        for _ in range(300):
            try:
                httpx.get(base + "/docs", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
    https = [httpx.Client(base_url=b, timeout=60) for b in bases]
    tokens, urls = [], []
    for i in range(args.sessions):  # sessions are pinned to workers round-robin
        w = i % args.workers
        # sessions start at different times, so their window grids are not aligned: a random grid origin
        origin = float(np.random.default_rng(1000 + i).uniform(0.0, args.hop))
        r = (
            https[w]
            .post("/live/sessions", json={"subject": f"bench-{i}", "dataset": "bench", "origin": origin})
            .json()
        )
        tokens.append(r["token"])
        urls.append(f"ws://127.0.0.1:{ports[w]}/live/ws/vr")
    q = ctx.Queue()
    start_at = ctx.Value("d", 0.0)
    per = int(np.ceil(args.sessions / args.client_procs))
    procs = []
    for p in range(args.client_procs):
        sl = slice(p * per, (p + 1) * per)
        if tokens[sl]:
            pr = ctx.Process(
                target=run_clients,
                args=(urls[sl], tokens[sl], args.seconds, args.warmup, start_at, q, args.data_dir),
            )
            pr.start()
            procs.append(pr)
    t_warm = time.perf_counter()
    readies = [q.get(timeout=1800) for _ in procs]
    history = sum(r["history_sent"] for r in readies)
    while time.perf_counter() - t_warm < 1800:  # wait until the servers have processed all the history
        got = sum(sum(h.get("/bench/report").json()["samples_in"].values()) for h in https)
        if got >= history:
            break
        time.sleep(0.5)
    warm_s = time.perf_counter() - t_warm
    for h in https:
        h.post("/bench/reset")
    start_at.value = time.time() + 1.0
    results = [q.get(timeout=args.seconds + 600) for _ in procs]
    for pr in procs:
        pr.join(30)
    reps = [h.get("/bench/report").json() for h in https]
    lat = np.concatenate([np.asarray(r["latencies_ms"], dtype=float) for r in reps])
    for h in https:
        h.post("/bench/close")
        h.close()
    for pr in servers:
        pr.terminate()
        pr.join(10)
    tmp.cleanup()
    rep = {
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "max_ms": float(lat.max()) if lat.size else None,
        "n_estimates": int(lat.size),
        "cpu_percent": sum(r["cpu_percent"] for r in reps),
        "samples_in": {k: v for r in reps for k, v in r["samples_in"].items()},
        "recorded_samples": {k: v for r in reps for k, v in r["recorded_samples"].items()},
        "subscriber_dropped": sum(r["subscriber_dropped"] for r in reps),
        "detector": reps[0]["detector"],
    }
    e2e = np.concatenate([np.asarray(r["e2e_ms"], dtype=float) for r in results])
    sent = sum(sum(r["sent"]) for r in results)
    received = sum(rep["samples_in"].values())
    recorded = sum(rep["recorded_samples"].values())
    out = {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "p50_ms": round(rep["p50_ms"], 3) if rep["p50_ms"] is not None else None,
        "p99_ms": round(rep["p99_ms"], 3) if rep["p99_ms"] is not None else None,
        "max_ms": round(rep["max_ms"], 3) if rep["max_ms"] is not None else None,
        "e2e_p50_ms": round(float(np.percentile(e2e, 50)), 3) if e2e.size else None,
        "e2e_p99_ms": round(float(np.percentile(e2e, 99)), 3) if e2e.size else None,
        "n_estimates": rep["n_estimates"],
        "dropped_samples": int(sent - received) + int(received - recorded),
        "samples_sent": int(sent),
        "subscriber_dropped_messages": rep["subscriber_dropped"],
        "cpu_percent": round(rep["cpu_percent"], 1) if rep["cpu_percent"] is not None else None,
        "client_cpu_percent": round(
            100 * sum(r["client_cpu_s"] for r in results) / (args.seconds + 3 + warm_s), 1
        ),
        "hop_s": args.hop,
        "workers": args.workers,
        "warmup_s": round(warm_s, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "detector": rep["detector"],
        "cores": os.cpu_count(),
        "quick": args.quick,
    }
    if not args.json:
        print(
            f"{args.sessions} sessions x {args.seconds} s real time after {args.warmup} s of history",
            file=sys.stderr,
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
