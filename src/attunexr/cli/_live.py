"""``attunexr replay`` and ``attunexr record``: the live pipeline from the command line."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import typer
from rich.console import Console

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors, data_dir_option, json_option, write_json
from attunexr.errors import ConfigurationError

_console = Console()
_DEFAULT_MODEL = {"stress-predict": "stress", "vr-cybersickness": "cybersickness"}


def _detector(model: str | None, dataset: str) -> Any:
    name = model if model is not None else _DEFAULT_MODEL.get(dataset, "stress")
    if name.lower() == "none":
        return None
    from attunexr.models import load_model

    return load_model(name)


class _Estimator:
    """The detector as the replay's live session calls it, adding what a model needs from the recording.

    A cybersickness model reads time in VR: window end minus the onset of the recording's ``vr`` interval (the
    definition used in training). The first failure is kept and re-raised after the replay as one clear error,
    instead of one logged traceback per window.
    """

    def __init__(self, detector: Any, rec: Any) -> None:
        self.detector = detector
        onsets = [iv.onset for iv in rec.intervals if iv.label == "vr"]
        self.vr_onset = min(onsets) if onsets else None
        self.error: Exception | None = None

    def __call__(self, rows: Any) -> list[Any]:
        if self.error is not None:
            return []
        if self.vr_onset is not None and "time_in_vr" not in rows.columns and "t_end" in rows.columns:
            rows = rows.assign(time_in_vr=rows["t_end"].to_numpy(dtype=float) - self.vr_onset)
        try:
            return list(self.detector.estimate(rows))
        except Exception as err:  # noqa: BLE001 - re-raised by the command once the session has stopped
            self.error = err
            return []


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
    data_dir: Path | None = data_dir_option(),
    model: str | None = typer.Option(
        None, "--model", help="Detector name or folder (default: by dataset); 'none' = features only."
    ),
    window: float = typer.Option(60.0, "--window", help="Feature window in seconds."),
    hop: float = typer.Option(10.0, "--hop", help="Step between windows in seconds."),
    seconds: float | None = typer.Option(None, "--seconds", help="Replay only the first S seconds."),
    json_out: str | None = typer.Option(
        None,
        "--json",
        metavar="PATH",
        help="Write one JSON object per estimate (JSON lines, then a summary line) to PATH ('-' = standard output).",
    ),
) -> None:
    """Run a real recording through the live pipeline and print estimates as they arrive."""
    from attunexr.io.datasets import get_dataset

    with cli_errors():
        if not speed > 0:
            raise ConfigurationError(f"--speed must be positive, got {speed}")
        if seconds is not None and not seconds > 0:
            raise ConfigurationError(f"--seconds must be positive, got {seconds}")
        rec = get_dataset(dataset).load(subject, data_dir=data_dir)
        if seconds is not None:
            rec = rec.crop(rec.t_start, rec.t_start + seconds)
        detector = _detector(model, dataset)
        estimator = _Estimator(detector, rec) if detector is not None else None
        sink: IO[str] | None = None
        tmp: Path | None = None
        if json_out == "-":
            sink = sys.stdout
        elif json_out is not None:
            target = Path(json_out)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
            sink = tmp.open("w")
        try:
            stats = _replay(rec, estimator, subject, speed, window, hop, sink, quiet=json_out == "-")
            if estimator is not None and estimator.error is not None:
                raise estimator.error
            if stats["pipeline_errors"]:
                raise ConfigurationError(
                    f"the live pipeline failed on {stats['pipeline_errors']} chunk(s) of {dataset}:{subject}; "
                    "`attunexr --debug replay ...` shows why"
                )
            summary = {"type": "summary", **{k: v for k, v in stats.items() if k != "streams"}}
            if sink is not None:
                sink.write(json.dumps(summary, default=_json_default) + "\n")
        except BaseException:
            if tmp is not None and sink is not None:
                sink.close()
                tmp.unlink(missing_ok=True)
            raise
        if tmp is not None and sink is not None:
            sink.close()
            os.replace(tmp, Path(str(json_out)))  # complete JSON lines only: never half a file
        if json_out != "-":
            _console.print(
                f"done: {stats['rows']} windows, {stats['estimates']} estimates in {stats['wall_s']} s; "
                f"latency p50 {_ms(stats['p50_ms'])}, p99 {_ms(stats['p99_ms'])}"
                + (f"; JSON lines in {json_out}" if json_out else "")
            )


def _replay(
    rec: Any,
    estimator: _Estimator | None,
    subject: str,
    speed: float,
    window: float,
    hop: float,
    sink: IO[str] | None,
    quiet: bool,
) -> dict[str, Any]:
    """Replay ``rec`` through a :class:`LiveSession`.

    Each estimate (or feature row without a detector) goes as a JSON line to ``sink`` when given, else as a human
    line to standard output; ``quiet`` leaves standard output to the JSON lines.
    """
    from attunexr.sensors import ReplaySource
    from attunexr.session import LiveSession

    def emit(obj: dict[str, Any], text: str) -> None:
        if sink is not None:
            sink.write(json.dumps(obj, default=_json_default) + "\n")
        else:
            _console.print(text, highlight=False, soft_wrap=True)

    async def main() -> dict[str, Any]:
        session = LiveSession(
            f"replay-{subject}", meta=rec.meta, window=window, hop=hop, origin=0.0, detector=estimator
        )
        sub = session.subscribe({"estimate", "quality"}, maxsize=10_000)
        if estimator is None:
            inner = session.features

            class _Tap:
                def push(self, c: Any) -> list[dict[str, Any]]:
                    out: list[dict[str, Any]] = inner.push(c)
                    for r in out:
                        emit(*_row_lines(r, rec))
                    return out

                def flush(self) -> list[dict[str, Any]]:
                    out: list[dict[str, Any]] = inner.flush()  # type: ignore[attr-defined]
                    for r in out:
                        emit(*_row_lines(r, rec))
                    return out

            session.features = _Tap()
        if not quiet:
            _console.print(
                f"replaying {rec.meta.dataset}:{rec.meta.subject} ({rec.duration:.0f} s, "
                f"{', '.join(rec.streams)}) at {speed:g}x; window {window:g} s, hop {hop:g} s",
                highlight=False,
                soft_wrap=True,
            )
        await session.start()
        printer = asyncio.get_running_loop().create_task(_print_estimates(sub, rec, window, emit, quiet))
        t0 = time.perf_counter()
        source = ReplaySource(rec, speed=speed)
        pump = session.attach(source)
        while not pump.done():
            if estimator is not None and estimator.error is not None:
                await source.stop()  # the detector cannot run on this recording: no point replaying the rest
                break
            await asyncio.wait({pump}, timeout=0.2)
        await pump
        await session.stop()
        await printer
        st: dict[str, Any] = session.stats()
        st["wall_s"] = round(time.perf_counter() - t0, 3)
        st["pipeline_errors"] = session.pipeline_errors
        return st

    result: dict[str, Any] = _run(main())
    return result


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} ms"


def _row_lines(row: dict[str, Any], rec: Any) -> tuple[dict[str, Any], str]:
    t_end = float(row["t_end"])
    label = rec.window_label(float(row["t_start"]), t_end)
    text = (
        f"t={t_end:8.1f} s  hr={_fmt(row.get('hr_mean'))} bpm  rmssd={_fmt(row.get('rmssd'), 1)} ms  "
        f"scl={_fmt(row.get('scl_mean'), 2)} uS  quality_ok={row.get('quality_ok')}  label={label}"
    )
    return {"type": "features", "label": label, **row}, text


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


async def _print_estimates(
    sub: Any, rec: Any, window: float, emit: Any, quiet: bool
) -> None:
    async for msg in sub:
        if msg["type"] == "estimate":
            label = rec.window_label(msg["t"] - window, msg["t"])
            p = msg["probability"]
            status = f"abstained ({msg['reason']})" if msg["abstained"] else "usable"
            emit(
                {**msg, "label": label},
                f"t={msg['t']:8.1f} s  p={_fmt(p, 2)} [{_fmt(msg['lower'], 2)}, {_fmt(msg['upper'], 2)}]  "
                f"{status:<34} label={label}  latency {msg['latency_ms']:.1f} ms",
            )
        elif msg["type"] == "quality" and msg["status"] != "ok" and not quiet:
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
    json_out: str | None = json_option("the summary (file, segments, samples, gaps, windows)"),
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
            if json_out != "-":
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
                "pipeline_errors": session.pipeline_errors,
            }

        summary = _run(main())
        if json_out is not None:
            write_json(summary, json_out)
        if json_out != "-":
            _console.print(
                f"saved {summary['path']} ({summary['segments']} segments, verified); samples: {summary['samples']}"
            )
        if summary["pipeline_errors"]:
            raise ConfigurationError(
                f"the recording is saved, but the live feature pipeline failed on {summary['pipeline_errors']} "
                "chunk(s); `attunexr --debug record ...` shows why"
            )
