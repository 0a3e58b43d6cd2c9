"""Crash recovery: SIGKILL the recording server mid-session, reopen its encrypted log, count what was lost.

A server process (uvicorn + the live app, recording every session to an AES-GCM log flushed and fsynced every
0.5 s) receives a real Stress-Predict recording (E4 streams) from a VR client in this process in real time, in
0.25-s chunks. After --kill-after seconds the server is killed with SIGKILL (no cleanup). The log is then opened
and verified (every segment authenticated and chained) and compared with what the client had sent.

Reports (last line, JSON): lost_seconds (latest sample time sent before the kill minus latest sample time recovered;
includes data still in flight in the socket), verified (log opens, all segments authenticate and the recovered
samples are exactly the first samples sent), truncated_bytes, recovered_seconds.

Usage: python benchmarks/crash_recovery.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _live_common import free_port  # noqa: E402

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("lost_seconds", "verified", "recovered_seconds", "sent_seconds_at_kill", "segments", "truncated_bytes")


def run_server(port: int, record_dir: str, ready: Any) -> None:
    import uvicorn

    from attunexr.privacy import load_master_key
    from attunexr.session import SessionManager, create_live_app

    manager = SessionManager(
        detector=None, record_dir=record_dir, master_key=load_master_key(), window=60.0, hop=10.0
    )
    app = create_live_app(manager)
    ready.set()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", ws="websockets-sansio")


async def stream(url: str, token: str, rec: Any, seconds: float, sent: dict[str, Any]) -> None:
    from attunexr.session import VRClient

    client = VRClient(url, token, binary=True)
    await client.connect(t_now=0.0)
    t0 = time.monotonic()
    for chunk in rec.iter_chunks(0.25):
        due = t0 + chunk.t_last
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() - t0 > seconds:
            break
        try:
            await client.send_chunks([chunk])
        except Exception:  # noqa: BLE001 - the server was killed
            break
        sent["chunks"].append(chunk)
        sent["last_t"] = max(sent["last_t"], chunk.t_last)
    await client.close()


def _stream_then_kill(server: Any, port: int, rec: Any, kill_after: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a session on the server, stream ``rec`` to it in real time and SIGKILL the server after ``kill_after`` s."""
    import httpx

    if not server_ready(server, port):
        raise RuntimeError("the recording server did not start within 120 s")
    base = f"http://127.0.0.1:{port}"
    r = httpx.post(
        base + "/live/sessions", json={"subject": "crash-test", "dataset": "stress-predict"}, timeout=60.0
    ).json()
    sent: dict[str, Any] = {"chunks": [], "last_t": float("-inf")}

    async def run() -> None:
        task = asyncio.create_task(stream(f"ws://127.0.0.1:{port}/live/ws/vr", r["token"], rec, 1e9, sent))
        await asyncio.sleep(kill_after)
        os.kill(server.pid, signal.SIGKILL)  # no flush, no close: a crash
        killed_at_t = sent["last_t"]
        sent["at_kill"] = killed_at_t
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    asyncio.run(run())
    return r, sent


def server_ready(server: Any, port: int, timeout: float = 120.0) -> bool:
    """Wait until the server answers HTTP (or has died)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.is_alive():
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5.0)
            return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kill-after", type=float, default=6.3, help="seconds of streaming before SIGKILL")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.kill_after = 2.5

    from attunexr.io.datasets import get_dataset
    from attunexr.privacy import MASTER_KEY_ENV, load_master_key
    from attunexr.session import SessionLog

    os.environ[MASTER_KEY_ENV] = base64.b64encode(os.urandom(32)).decode()
    key = load_master_key()
    rec = get_dataset("stress-predict").load("S02", data_dir=args.data_dir)
    rec = rec.crop(rec.t_start, rec.t_start + args.kill_after + 20)
    tmp = tempfile.TemporaryDirectory(prefix="axr-crash-")
    port = free_port()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    # daemon: the server never outlives this script, whatever fails below
    server = ctx.Process(target=run_server, args=(port, tmp.name, ready), daemon=True)
    server.start()
    try:
        r, sent = _stream_then_kill(server, port, rec, args.kill_after)
    finally:
        if server.is_alive():
            server.kill()
        server.join(10)
    path = Path(tmp.name) / f"{r['session_id']}.axr"
    verified = False
    try:
        log = SessionLog.open(path, key)
        recovered = log.to_recording()
        ok = True
        for name, s in recovered.streams.items():
            mine = [c for c in sent["chunks"] if c.stream == name]
            vals = np.concatenate([c.values for c in mine])[: s.n_samples]
            ts = np.concatenate([c.timestamps for c in mine])[: s.n_samples]
            ok &= bool(np.array_equal(vals, s.values) and np.array_equal(ts, s.timestamps))
        verified = ok and not log.complete and log.segments > 0
        last = log.last_sample_time
        out = {
            "lost_seconds": round(float(sent["at_kill"] - last), 3),
            "verified": bool(verified),
            "recovered_seconds": round(float(last - rec.t_start), 3),
            "sent_seconds_at_kill": round(float(sent["at_kill"] - rec.t_start), 3),
            "segments": log.segments,
            "truncated_bytes": log.truncated_bytes,
            "flush_interval_s": 0.5,
        }
    except Exception as err:  # noqa: BLE001 - report, do not hide
        out = {"lost_seconds": None, "verified": False, "error": f"{type(err).__name__}: {err}"}
    tmp.cleanup()
    out["quick"] = args.quick
    print(json.dumps(out))


if __name__ == "__main__":
    main()
