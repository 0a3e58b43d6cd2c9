"""XDF files (Extensible Data Format, the Lab Streaming Layer recording format) through pyxdf.

pyxdf skips damaged chunks with a log line; attunexr first checks the chunk layout of the XDF 1.0 specification
(``XDF:`` magic, then chunks of ``[length-size byte][length][uint16 tag][content]``) so a truncated or damaged file
is refused with the byte offset of the problem instead of being read partially. Streams are mapped by their LSL
``type`` (ECG, PPG/BVP, EDA/GSR, Resp, Temp, HR, ACC, Gaze, Pupil, HeadPose, IBI); string ``Markers`` streams
become events. Timestamps are on the recorder's LSL clock after pyxdf's clock-offset synchronisation; clock zero of
the recording is the first sample of any stream. Timestamps of each stream must not go backwards.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyxdf

from attunexr.errors import DataFormatError
from attunexr.recording import Event, Recording, RecordingMeta, Stream

__all__ = ["read_xdf"]

logger = logging.getLogger(__name__)

#: Lower-case LSL stream type -> stream kind.
_TYPE_KIND: dict[str, str] = {
    "ecg": "ecg",
    "ekg": "ecg",
    "ppg": "ppg",
    "bvp": "ppg",
    "pleth": "ppg",
    "eda": "eda",
    "gsr": "eda",
    "resp": "resp",
    "respiration": "resp",
    "temp": "temp",
    "temperature": "temp",
    "hr": "hr",
    "heartrate": "hr",
    "ibi": "ibi",
    "rr": "ibi",
    "acc": "acc",
    "accelerometer": "acc",
    "gaze": "gaze",
    "eyetracking": "gaze",
    "pupil": "pupil",
    "headpose": "head_pose",
    "head_pose": "head_pose",
}
_TAGS = {1: "FileHeader", 2: "StreamHeader", 3: "Samples", 4: "ClockOffset", 5: "Boundary", 6: "StreamFooter"}


def check_xdf_layout(path: Path) -> int:
    """Walk the chunk headers of an XDF file; return the number of chunks or raise :class:`DataFormatError`."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if fh.read(4) != b"XDF:":
            raise DataFormatError(path, "is not an XDF file (the first 4 bytes are not 'XDF:')")
        pos, n = 4, 0
        while pos < size:
            head = fh.read(1)
            nbytes = head[0]
            if nbytes not in (1, 4, 8):
                raise DataFormatError(
                    path, f"damaged chunk header at byte {pos}: length size {nbytes} is not 1, 4 or 8"
                )
            raw = fh.read(nbytes)
            if len(raw) < nbytes:
                raise DataFormatError(path, f"truncated at byte {pos}: the last chunk header is incomplete")
            length = int.from_bytes(raw, "little")
            body = pos + 1 + nbytes
            if length < 2 or body + length > size:
                raise DataFormatError(
                    path,
                    f"truncated or damaged at byte {pos}: chunk declares {length} bytes but {size - body} remain",
                )
            tag = struct.unpack("<H", fh.read(2))[0]
            if tag not in _TAGS:
                raise DataFormatError(path, f"damaged chunk at byte {pos}: unknown tag {tag}")
            if n == 0 and tag != 1:
                raise DataFormatError(path, "the first chunk is not the FileHeader")
            fh.seek(body + length)
            pos, n = body + length, n + 1
    if n == 0:
        raise DataFormatError(path, "has no FileHeader chunk")
    return n


def _first(info: dict[str, Any], key: str, default: str = "") -> str:
    value = info.get(key)
    if isinstance(value, list) and value:
        return str(value[0]) if value[0] is not None else default
    return default


def _channel_labels(info: dict[str, Any], n: int) -> tuple[str, ...]:
    try:
        channels = info["desc"][0]["channels"][0]["channel"]
        labels = tuple(_first(ch, "label") or f"ch{i}" for i, ch in enumerate(channels))
    except (KeyError, IndexError, TypeError):
        return tuple(f"ch{i}" for i in range(n))
    return labels if len(labels) == n else tuple(f"ch{i}" for i in range(n))


def _dejitter(ts: np.ndarray, rate: float) -> np.ndarray:
    """Replace the timestamps of a regularly sampled stream by a least-squares line per contiguous segment.

    Segments break at gaps longer than ``max(1 s, 500 samples)``, the defaults of pyxdf's jitter removal
    (Kothe et al., Lab Streaming Layer).
    """
    out = ts.copy()
    breaks = np.flatnonzero(np.diff(ts) > max(1.0, 500.0 / rate)) + 1
    for seg in np.split(np.arange(ts.size), breaks):
        if seg.size > 1:
            slope, intercept = np.polyfit(np.arange(seg.size, dtype=np.float64), ts[seg], 1)
            out[seg] = intercept + slope * np.arange(seg.size)
    return out


def read_xdf(
    path: str | Path, subject: str | None = None, dataset: str = "", *, dejitter: bool = True
) -> Recording:
    """Read an XDF recording into a :class:`Recording`.

    Parameters
    ----------
    path
        The ``.xdf`` file (as written by LabRecorder).
    subject, dataset
        Metadata for the recording (default subject: the file stem).
    dejitter
        Replace the recorded timestamps of streams with a nominal rate by a straight line per contiguous segment
        (network and buffering jitter removed); ``False`` keeps the recorded times.

    Returns
    -------
    Recording
        One stream per recognised LSL stream (name = the LSL stream name, kind from its type), marker strings as
        events. ``meta.extra["xdf_datetime"]`` keeps the recorder's wall-clock time when the header has it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "does not exist")
    check_xdf_layout(path)
    try:
        streams, header = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    except Exception as err:  # pyxdf raises bare Exception/IOError/ValueError for broken content
        raise DataFormatError(path, f"cannot be parsed as XDF: {err}") from err
    parsed: list[tuple[str, str, dict[str, Any], np.ndarray, Any]] = []
    for st in streams:
        info = st["info"]
        name = _first(info, "name") or f"stream{_first(info, 'stream_id')}"
        stype = _first(info, "type")
        ts = np.asarray(st["time_stamps"], dtype=np.float64)
        if ts.size and not np.all(np.isfinite(ts)):
            raise DataFormatError(path, f"stream {name!r} has non-finite timestamps")
        if ts.size > 1 and np.any(np.diff(ts) < 0):
            i = int(np.argmax(np.diff(ts) < 0)) + 1
            raise DataFormatError(
                path,
                f"stream {name!r}: timestamps go backwards at sample {i} ({ts[i - 1]:.6f} -> {ts[i]:.6f} s)",
            )
        parsed.append((name, stype, info, ts, st["time_series"]))
    firsts = [ts[0] for _, _, _, ts, _ in parsed if ts.size]
    if not firsts:
        raise DataFormatError(path, "holds no samples")
    t_zero = float(min(firsts))
    meta = RecordingMeta(subject=subject or path.stem, dataset=dataset)
    dt = header.get("info", {}).get("datetime") if isinstance(header, dict) else None
    if dt:
        meta.extra["xdf_datetime"] = dt[0]
    rec = Recording(meta)
    for name, stype, info, ts, series in parsed:
        fmt = _first(info, "channel_format")
        if fmt == "string":
            for t, row in zip(ts, series, strict=True):
                rec.events.append(Event(float(t - t_zero), str(row[0]) if len(row) else ""))
            continue
        kind = _TYPE_KIND.get(stype.lower().replace(" ", ""))
        if kind is None:
            logger.warning(
                "%s: stream %r of type %r is not a signal attunexr knows; skipped", path, name, stype
            )
            continue
        values = np.asarray(series, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.size and np.isinf(values).any():
            row = int(np.argmax(np.isinf(values).any(axis=1)))
            raise DataFormatError(path, f"stream {name!r}: infinite value at sample {row}")
        # NaN samples are gaps (LSL outlets send NaN for lost samples): the quality layer decides
        rate = float(_first(info, "nominal_srate", "0") or 0.0)
        if dejitter and rate > 0:
            ts = _dejitter(ts, rate)
        n_ch = values.shape[1]
        out = values[:, 0] if n_ch == 1 else values
        unit = ""
        with contextlib.suppress(KeyError, IndexError, TypeError):
            unit = _first(info["desc"][0]["channels"][0]["channel"][0], "unit")
        if name in rec.streams:
            raise DataFormatError(path, f"two streams are named {name!r}")
        rec.add_stream(
            Stream(
                name,
                kind,
                out,
                ts - t_zero,
                rate=rate if rate > 0 else None,
                unit=unit,
                channels=_channel_labels(info, n_ch) if n_ch > 1 else (),
                extra={"lsl_type": stype, "lsl_t_zero": t_zero},
            )
        )
    rec.events.sort(key=lambda e: e.onset)
    return rec
