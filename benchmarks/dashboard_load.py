"""Dashboard responsiveness under N concurrent live sessions.

Starts the real app in-process (uvicorn on a free loopback port, SQLite in a temporary folder), starts N live
sessions (each with its own signal source, feature pipeline, detector, controller, safety monitors and encrypted
log), runs them fast for ``--warmup`` seconds so that detectors have their baseline and estimates flow, then opens
one dashboard WebSocket per session and for ``--seconds`` measures, at ``--speed``, while they run:

- ``page_load``: the dashboard page plus its script, style sheet and chart library, fetched like a browser would;
- ``api``: ``GET /api/sessions/{id}/live`` (the full live snapshot);
- ``action``: ``POST /api/sessions/{id}/notes`` (a clinician action, written and audited);
- ``ws_update``: publication of an update by the session → arrival at the dashboard socket.

The last line printed is one JSON object. Traffic goes to 127.0.0.1 only; every loop is bounded in time.

Usage: ``python benchmarks/dashboard_load.py --sessions 20 --seconds 30 --json``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

from attunexr.store import Clinic, Consent, User, hash_password
from attunexr.web import Settings, create_app

PASSWORD = "benchmark-password"


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))], 2)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _setup(app: Any, n: int, source: str) -> list[int]:
    services = app.state.services
    with services.db.begin() as db:
        clinic = Clinic(name="Benchmark clinic")
        db.add(clinic)
        db.commit()
        user = User(username="bench", password_hash=hash_password(PASSWORD), role="clinician", clinic_id=clinic.id)
        db.add(user)
        db.commit()
        pids = []
        for i in range(n):
            p = services.create_patient(db, clinic.id, user.id, {"name": f"Benchmark {i}"})
            db.add(Consent(patient_id=p.id, scope="treatment", granted=True, recorded_by=user.id))
            pids.append(p.id)
        db.commit()
    return pids


async def _run(url: str, pids: list[int], seconds: float, source: str, subjects: list[str], services: Any,
               speed: float, warmup: float, warmup_speed: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        tok = (await c.post("/api/auth/token", json={"username": "bench", "password": PASSWORD})).json()
        c.headers["Authorization"] = f"Bearer {tok['access_token']}"
        sids = []
        t_start = time.perf_counter()
        for i, pid in enumerate(pids):
            src = source if source == "virtual" else f"replay:stress-predict:{subjects[i % len(subjects)]}"
            r = await c.post(f"/api/patients/{pid}/sessions", json={"scenario": ["heights", "spiders",
                             "public_speaking"][i % 3], "source": src})
            r.raise_for_status()
            sids.append(r.json()["id"])
        await asyncio.gather(*(c.post(f"/api/sessions/{sid}/start") for sid in sids))
        startup_s = time.perf_counter() - t_start
        # warm-up: run the sessions fast until detectors have their baseline and estimates flow, then measure at
        # the requested speed (the runner objects live in this process)
        for sid in sids:
            services.live.get(sid).speed = warmup_speed
        await asyncio.sleep(warmup)
        for sid in sids:
            services.live.get(sid).speed = speed
        session_t = [services.live.get(sid).t for sid in sids]
        n_est0 = sum(len(services.live.get(sid).history.est_t) for sid in sids)

        ws_lat: list[float] = []
        n_updates = 0
        stop_at = time.time() + seconds

        async def watch(sid: int) -> None:
            nonlocal n_updates
            ws_url = url.replace("http", "ws") + f"/ws/sessions/{sid}"
            async with websockets.connect(ws_url, additional_headers={"Authorization": c.headers["Authorization"]},
                                          max_size=1 << 24) as ws:
                while time.time() < stop_at:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, stop_at - time.time()))
                    except TimeoutError:
                        break
                    msg = json.loads(raw)
                    if "sent_at" in msg:
                        ws_lat.append((time.time() - msg["sent_at"]) * 1e3)
                        n_updates += 1

        page: list[float] = []
        api: list[float] = []
        action: list[float] = []

        async def browse() -> None:
            k = 0
            assets = ["/static/js/dashboard.js", "/static/css/app.css", "/static/vendor/uplot/uPlot.iife.min.js",
                      "/static/vendor/uplot/uPlot.min.css"]
            while time.time() < stop_at:
                sid = sids[k % len(sids)]
                k += 1
                t0 = time.perf_counter()
                r = await c.get(f"/sessions/{sid}")
                assert r.status_code == 200, r.status_code
                await asyncio.gather(*(c.get(a) for a in assets))
                page.append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                r = await c.get(f"/api/sessions/{sid}/live")
                assert r.status_code == 200
                api.append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                r = await c.post(f"/api/sessions/{sid}/notes", json={"text": f"benchmark note {k}"})
                assert r.status_code == 201
                action.append((time.perf_counter() - t0) * 1e3)
                await asyncio.sleep(0.05)

        cpu0 = os.times()
        w0 = time.perf_counter()
        await asyncio.gather(*(watch(s) for s in sids), browse())
        wall = time.perf_counter() - w0
        cpu1 = os.times()
        n_est = sum(len(services.live.get(sid).history.est_t) for sid in sids) - n_est0
        states = [(await c.get(f"/api/sessions/{sid}/live")).json()["state"] for sid in sids]
        for sid in sids:
            await c.post(f"/api/sessions/{sid}/stop")
    return {
        "sessions": len(sids),
        "seconds": seconds,
        "startup_s": round(startup_s, 2),
        "sessions_running": sum(s == "running" for s in states),
        "page_load_p50_ms": _pct(page, 50), "page_load_p99_ms": _pct(page, 99), "page_loads": len(page),
        "api_p50_ms": _pct(api, 50), "api_p99_ms": _pct(api, 99),
        "action_p50_ms": _pct(action, 50), "action_p99_ms": _pct(action, 99),
        "ws_update_p50_ms": _pct(ws_lat, 50), "ws_update_p99_ms": _pct(ws_lat, 99), "ws_updates": n_updates,
        "ws_update_mean_ms": round(statistics.fmean(ws_lat), 2) if ws_lat else None,
        "cpu_percent": round(100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall, 1),
        "session_time_at_start_s": round(min(session_t), 1),
        "estimates_during_measurement": n_est,
    }


#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = (
    "sessions", "sessions_running", "page_load_p50_ms", "page_load_p99_ms", "api_p99_ms", "action_p99_ms",
    "ws_update_p50_ms", "ws_update_p99_ms", "cpu_percent", "source", "speed",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=1.0, help="session seconds per second (1 = real time)")
    ap.add_argument("--source", default="virtual", help="virtual, or replay (real Stress-Predict subjects)")
    ap.add_argument("--warmup", type=float, default=12.0, help="seconds of fast running before measuring")
    ap.add_argument("--warmup-speed", type=float, default=20.0, help="session speed during the warm-up")
    ap.add_argument("--json", action="store_true", help="print only the JSON result line")
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.seconds, args.warmup = 2, 3.0, 2.0
    if not 1 <= args.sessions <= 500 or not 1 <= args.seconds <= 600:
        ap.error("--sessions must be 1..500 and --seconds 1..600")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), speed=args.speed))
        pids = _setup(app, args.sessions, args.source)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            subjects = [f"S{i:02d}" for i in range(2, 36)]
            result = asyncio.run(_run(f"http://127.0.0.1:{port}", pids, args.seconds, args.source, subjects,
                                      app.state.services, args.speed, args.warmup, args.warmup_speed))
        finally:
            server.should_exit = True
            thread.join(timeout=30)
        result["source"] = args.source
        result["speed"] = args.speed
        result["quick"] = args.quick
    if not args.json:
        for k, v in result.items():
            print(f"{k:>20}: {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
