"""``attunexr replay`` and ``attunexr record``: the live pipeline from the command line."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors
from attunexr.errors import ConfigurationError

_console = Console()
_DEFAULT_MODEL = {"stress-predict": "stress", "vr-cybersickness": "cybersickness"}


def _detector(model: str | None, dataset: str) -> Any:
    name = model if model is not None else _DEFAULT_MODEL.get(dataset, "stress")
    if name.lower() == "none":
        return None
    from attunexr.models import load_model

    return load_model(name)


def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        return asyncio.run(coro)


@app.command("replay")
def replay_command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (see `attunexr datasets list`)."),
    subject: str = typer.Option(..., "--subject", help="Subject id, e.g. S02."),
    speed: float = typer.Option(
        20.0, "--speed", help="Replay speed: 1 = real time, 20 = twenty times faster, inf = max."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder holding the datasets."),
    model: str | None = typer.Option(
        None, "--model", help="Detector name or folder (default: by dataset); 'none' = features only."
    ),
    window: float = typer.Option(60.0, "--window", help="Feature window in seconds."),
    hop: float = typer.Option(10.0, "--hop", help="Step between windows in seconds."),
    seconds: float | None = typer.Option(None, "--seconds", help="Replay only the first S seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per estimate (JSON lines)."),
) -> None:
    """Run a real recording through the live pipeline and print estimates as they arrive."""
    from attunexr.io.datasets import get_dataset
    from attunexr.sensors import ReplaySource
    from attunexr.session import LiveSession

    with cli_errors():
        if not speed > 0:
            raise ConfigurationError(f"--speed must be positive, got {speed}")
        rec = get_dataset(dataset).load(subject, data_dir=data_dir)
        if seconds is not None:
            rec = rec.crop(rec.t_start, rec.t_start + seconds)
        detector = _detector(model, dataset)

        async def main() -> dict[str, Any]:
            session = LiveSession(
                f"replay-{subject}", meta=rec.meta, window=window, hop=hop, origin=0.0, detector=detector
            )
            sub = session.subscribe({"estimate", "quality"}, maxsize=10_000)
            rows: list[dict[str, Any]] = []
            if detector is None:
                inner = session.features

                class _Tap:
                    def push(self, c: Any) -> list[dict[str, Any]]:
                        out = inner.push(c)
                        rows.extend(out)
                        for r in out:
                            _print_row(r, rec, as_json)
                        return out

                    def flush(self) -> list[dict[str, Any]]:
                        out: list[dict[str, Any]] = inner.flush()  # type: ignore[attr-defined]
                        for r in out:
                            _print_row(r, rec, as_json)
                        return out

                session.features = _Tap()
            if not as_json:
                _console.print(
                    f"replaying {rec.meta.dataset}:{rec.meta.subject} ({rec.duration:.0f} s, "
                    f"{', '.join(rec.streams)}) at {speed:g}x; window {window:g} s, hop {hop:g} s"
                )
            await session.start()
            printer = asyncio.get_running_loop().create_task(_print_estimates(sub, rec, as_json))
            t0 = time.perf_counter()
            await session.attach(ReplaySource(rec, speed=speed))
            await session.stop()
            await printer
            st = session.stats()
            st["wall_s"] = round(time.perf_counter() - t0, 3)
            return st

        stats = _run(main())
        if as_json:
            typer.echo(json.dumps({"type": "summary", **{k: v for k, v in stats.items() if k != "streams"}}))
        else:
            _console.print(
                f"done: {stats['rows']} windows, {stats['estimates']} estimates in {stats['wall_s']} s; "
                f"latency p50 {_ms(stats['p50_ms'])}, p99 {_ms(stats['p99_ms'])}"
            )


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} ms"


def _print_row(row: dict[str, Any], rec: Any, as_json: bool) -> None:
    t_end = float(row["t_end"])
    label = rec.window_label(float(row["t_start"]), t_end)
    if as_json:
        typer.echo(json.dumps({"type": "features", "label": label, **row}, default=_json_default))
        return
    _console.print(
        f"t={t_end:8.1f} s  hr={_fmt(row.get('hr_mean'))} bpm  rmssd={_fmt(row.get('rmssd'), 1)} ms  "
        f"scl={_fmt(row.get('scl_mean'), 2)} uS  quality_ok={row.get('quality_ok')}  label={label}",
        highlight=False,
        soft_wrap=True,
    )


def _json_default(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def _fmt(x: Any, digits: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else f"{v:.{digits}f}"


async def _print_estimates(sub: Any, rec: Any, as_json: bool) -> None:
    async for msg in sub:
        if msg["type"] == "estimate":
            label = rec.window_label(msg["t"] - 60.0, msg["t"])
            if as_json:
                typer.echo(json.dumps({**msg, "label": label}))
            else:
                p = msg["probability"]
                status = f"abstained ({msg['reason']})" if msg["abstained"] else "usable"
                _console.print(
                    f"t={msg['t']:8.1f} s  p={_fmt(p, 2)} [{_fmt(msg['lower'], 2)}, {_fmt(msg['upper'], 2)}]  "
                    f"{status:<34} label={label}  latency {msg['latency_ms']:.1f} ms",
                    highlight=False,
                    soft_wrap=True,
                )
        elif msg["type"] == "quality" and msg["status"] != "ok" and not as_json:
            _console.print(f"[yellow]quality:[/] {msg['stream']} {msg['status']} {msg.get('gap') or ''}")


@app.command("record")
def record_command(
    stream: list[str] = typer.Option(
        ..., "--stream", help="LSL stream name or type to record (repeat for more)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for the encrypted session log."),
    seconds: float = typer.Option(..., "--seconds", help="How long to record."),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="Master key file (default: $ATTUNEXR_MASTER_KEY)."
    ),
    subject: str = typer.Option(
        "anonymous", "--subject", help="Subject pseudonym stored (encrypted) in the log."
    ),
    resolve_timeout: float = typer.Option(5.0, "--resolve-timeout", help="Seconds to wait for each stream."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Record LSL streams into an encrypted session log (features are computed live as well)."""
    from attunexr.privacy import load_master_key
    from attunexr.recording import RecordingMeta
    from attunexr.sensors import LSLSource, lsl_clock
    from attunexr.session import LiveSession, SessionLog, SessionRecorder

    with cli_errors():
        if not seconds > 0:
            raise ConfigurationError("--seconds must be positive")
        key = load_master_key(key_file)

        async def main() -> dict[str, Any]:
            import secrets

            sid = time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
            path = out / f"{sid}.axr"
            zero = lsl_clock()
            sources = []
            for s in stream:
                src = LSLSource(name=s, clock_zero=zero, resolve_timeout=min(resolve_timeout, 1.0))
                try:
                    await src.start()
                except ConfigurationError as by_name:
                    src = LSLSource(type=s, clock_zero=zero, resolve_timeout=resolve_timeout)
                    try:
                        await src.start()
                    except ConfigurationError:
                        raise ConfigurationError(
                            f"no LSL stream named or typed {s!r} found ({by_name}); check the sender is running"
                        ) from None
                sources.append(src)
            meta = RecordingMeta(subject=subject, session=sid, start_time=time.time(), device="LSL")
            recorder = SessionRecorder(path, key, meta=meta)
            session = LiveSession(sid, meta=meta, recorder=recorder)
            await session.start()
            for src in sources:
                session.attach(src)
            if not as_json:
                names = ", ".join(f"{s.stream} ({s.kind}, {s.rate or 'irregular'} Hz)" for s in sources)
                _console.print(f"recording {names} for {seconds:g} s into {path}")
            await asyncio.sleep(seconds)
            for src in sources:
                await src.stop()
            await session.stop()
            log = SessionLog.open(path, key)
            return {
                "path": str(path),
                "complete": log.complete,
                "segments": log.segments,
                "samples": {b.name: b.n_samples for b in session.buffers.values()},
                "gaps": {b.name: len(b.gaps) for b in session.buffers.values()},
                "windows": session.rows_emitted,
            }

        summary = _run(main())
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            _console.print(
                f"saved {summary['path']} ({summary['segments']} segments, verified); samples: {summary['samples']}"
            )
