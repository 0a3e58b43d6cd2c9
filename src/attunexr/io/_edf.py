"""EDF+ files (European Data Format, Kemp et al. 1992; EDF+ Kemp & Olivan 2003) through pyedflib.

attunexr writes one EDF signal per stream channel, labelled ``<stream>`` or ``<stream>:<channel>``, with the stream
kind and device in the transducer field (``kind=ppg; device=Empatica E4``) so the file reads back into the same
streams. Each signal keeps its own sampling rate; the physical minimum and maximum come from the data, so the
quantisation step is ``(max - min) / 65535``. Intervals become EDF+ annotations with a duration, events become
annotations without one (``label`` or ``label=value``).

EDF has one start time for all signals and stores whole data records only, so :func:`write_edf` needs streams that
start together; it drops a trailing partial data record. Clock zero of a read file is its first sample.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyedflib

from attunexr.errors import DataFormatError, SignalError
from attunexr.recording import STREAM_KINDS, Event, Interval, Recording, RecordingMeta, Stream

__all__ = ["read_edf", "write_edf"]

logger = logging.getLogger(__name__)

#: Lower-case first word of a foreign EDF label -> stream kind.
_LABEL_KIND: dict[str, str] = {
    "ecg": "ecg",
    "ekg": "ecg",
    "cardiac": "ecg",
    "ppg": "ppg",
    "pleth": "ppg",
    "bvp": "ppg",
    "eda": "eda",
    "gsr": "eda",
    "scl": "eda",
    "resp": "resp",
    "respiration": "resp",
    "respiratory": "resp",
    "temp": "temp",
    "temperature": "temp",
    "hr": "hr",
    "acc": "acc",
}
_DIGITAL = (-32768, 32767)


def _edf_bound(x: float, up: bool) -> float:
    """``x`` rounded outwards to a number that fits the 8 characters of an EDF header field."""
    for decimals in range(7, -1, -1):
        scale = 10.0**decimals
        v = (math.ceil(x * scale) if up else math.floor(x * scale)) / scale
        text = f"{v:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{v:.0f}"
        if len(text) <= 8:
            return float(text)
    raise SignalError(f"value {x!r} does not fit the 8 characters of an EDF header; rescale the signal")


def _record_duration(rates: list[float]) -> int:
    for seconds in range(1, 61):
        if all(abs(r * seconds - round(r * seconds)) < 1e-6 for r in rates):
            return seconds
    raise SignalError(
        f"sampling rates {rates} have no whole number of samples in any EDF data record of 1..60 s"
    )


def write_edf(recording: Recording, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the regularly sampled streams, intervals and events of ``recording`` to an EDF+ file.

    Parameters
    ----------
    recording
        Its regular streams must start at the same time (within half a sample); crop it first with
        :meth:`Recording.crop` if they do not. Irregular streams (IBI) are not written (EDF has no place for them).
    path
        Target ``.edf`` file; written to a temporary file beside it and renamed, so no partial file is left.
    overwrite
        Replace an existing file.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataFormatError(path, "already exists; pass overwrite=True to replace it")
    streams = [s for s in recording.streams.values() if s.rate is not None and s.n_samples]
    skipped = [s.name for s in recording.streams.values() if s.rate is None]
    if skipped:
        logger.warning("EDF holds regularly sampled signals only; not writing %s", ", ".join(skipped))
    if not streams:
        raise SignalError(
            f"recording {recording.meta.subject!r} has no regularly sampled stream to write as EDF"
        )
    t0 = min(s.t_start for s in streams)
    for s in streams:
        assert s.rate is not None
        drift = (
            float(np.max(np.abs(s.timestamps - (s.timestamps[0] + np.arange(s.n_samples) / s.rate)))) * s.rate
        )
        if drift > 0.5:
            raise SignalError(
                f"stream {s.name!r} wanders {drift:.2f} sample periods off its {s.rate:g} Hz grid; EDF stores "
                "regularly sampled signals only: resample it first (attunexr.signals.resample_irregular)"
            )
        if abs(s.t_start - t0) * s.rate > 0.5:
            raise SignalError(
                f"stream {s.name!r} starts {s.t_start - t0:.3f} s after the others; EDF signals share one start "
                "time: crop the recording to a span every stream covers (recording.crop(tmin, tmax))"
            )
    rates = [float(s.rate) for s in streams if s.rate is not None]
    record = _record_duration(rates)
    n_records = min(int(math.floor(s.n_samples / (s.rate * record) + 1e-9)) for s in streams if s.rate)
    if n_records < 1:
        raise SignalError(f"streams are shorter than one EDF data record ({record} s)")

    headers: list[dict[str, str | int | float | None]] = []
    data: list[np.ndarray] = []
    for s in streams:
        assert s.rate is not None
        n = int(round(n_records * record * s.rate))
        values = s.values[:n].reshape(n, -1)
        if not np.all(np.isfinite(values)):
            raise SignalError(f"stream {s.name!r} holds NaN or infinite values; EDF cannot store them")
        names = [s.name] if s.values.ndim == 1 else [f"{s.name}:{ch}" for ch in s.channels]
        for j, label in enumerate(names):
            col = np.ascontiguousarray(values[:, j], dtype=np.float64)
            lo, hi = float(col.min()), float(col.max())
            if hi - lo < 1e-6:
                lo, hi = lo - 1.0, hi + 1.0
            if len(label) > 16:
                raise SignalError(
                    f"EDF labels hold 16 characters; rename stream {s.name!r} (label {label!r})"
                )
            headers.append(
                {
                    "label": label,
                    "dimension": s.unit[:8],
                    "sample_frequency": float(s.rate),
                    "physical_min": _edf_bound(lo, up=False),
                    "physical_max": _edf_bound(hi, up=True),
                    "digital_min": _DIGITAL[0],
                    "digital_max": _DIGITAL[1],
                    "transducer": f"kind={s.kind}; device={s.device}"[:80],
                    "prefilter": "",
                }
            )
            data.append(col)

    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if path.parent.exists() else None
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            writer = pyedflib.EdfWriter(str(tmp), len(headers), file_type=pyedflib.FILETYPE_EDFPLUS)
            try:
                writer.setSignalHeaders(headers)
                writer.setDatarecordDuration(record)
                writer.setPatientCode(re.sub(r"\s", "_", recording.meta.subject)[:40])
                writer.setEquipment(re.sub(r"\s", "_", recording.meta.device or "unknown")[:30])
                if recording.meta.start_time is not None:
                    start = datetime.fromtimestamp(recording.meta.start_time + t0, tz=UTC).replace(
                        tzinfo=None
                    )
                    writer.setStartdatetime(start)
                writer.writeSamples(data)
                for iv in recording.intervals:
                    writer.writeAnnotation(iv.onset - t0, iv.duration, iv.label)
                for ev in recording.events:
                    text = ev.label if ev.value is None else f"{ev.label}={ev.value:.10g}"
                    writer.writeAnnotation(ev.onset - t0, -1, text)
            finally:
                writer.close()
        if path.exists() and not overwrite:
            raise DataFormatError(path, "appeared while writing; not replaced")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _kind_of(label: str, transducer: str) -> tuple[str, str, str | None] | None:
    """``(kind, stream name, channel)`` of an EDF signal, or ``None`` if not a recognised signal."""
    m = re.search(r"kind=([a-z_]+)", transducer)
    name, _, channel = label.partition(":")
    if m and m.group(1) in STREAM_KINDS:
        return m.group(1), name, channel or None
    first = re.split(r"[\s_:\-]", label.strip().lower(), maxsplit=1)[0]
    if first in _LABEL_KIND:
        return _LABEL_KIND[first], label.strip(), None
    return None


def read_edf(path: str | Path, subject: str | None = None, dataset: str = "") -> Recording:
    """Read an EDF or EDF+ file into a :class:`Recording` (clock zero = the file's first sample).

    Signals are grouped back into streams by their ``<stream>:<channel>`` labels and the ``kind=`` tag that
    :func:`write_edf` puts in the transducer field; signals of other EDF files are recognised by the first word of
    their label (ECG, EKG, PPG, Pleth, BVP, EDA, GSR, Resp, Temp, HR, ACC) and others are skipped with a warning.
    Annotations with a duration become intervals, the others events.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "does not exist")
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as err:
        raise DataFormatError(path, f"is not a readable EDF/EDF+ file: {err}") from err
    try:
        start = reader.getStartdatetime().replace(tzinfo=UTC).timestamp()
        patient = reader.getPatientCode().strip()
        equipment = reader.getEquipment().strip().replace("_", " ")
        groups: dict[str, tuple[str, list[tuple[str | None, int]]]] = {}
        for i, label in enumerate(reader.getSignalLabels()):
            found = _kind_of(label, reader.getTransducer(i))
            if found is None:
                logger.warning(
                    "%s: signal %r is not a physiological signal attunexr knows; skipped", path, label
                )
                continue
            kind, name, channel = found
            groups.setdefault(name, (kind, []))[1].append((channel, i))
        if not groups:
            raise DataFormatError(
                path, "holds no signal attunexr recognises (ECG, PPG, EDA, Resp, Temp, HR, ACC)"
            )
        meta = RecordingMeta(
            subject=subject or patient or path.stem, dataset=dataset, device=equipment, start_time=start
        )
        if meta.device in ("unknown", "X"):
            meta.device = ""
        rec = Recording(meta)
        for name, (kind, members) in groups.items():
            rates = {float(reader.getSampleFrequency(i)) for _, i in members}
            if len(rates) != 1:
                raise DataFormatError(
                    path, f"channels of stream {name!r} have different rates {sorted(rates)}"
                )
            columns = [reader.readSignal(i) for _, i in members]
            if any(len(c) != len(columns[0]) for c in columns):
                raise DataFormatError(path, f"channels of stream {name!r} have different lengths")
            multi = len(members) > 1 or members[0][0] is not None
            values = np.column_stack(columns) if multi else columns[0]
            channels = tuple(ch or str(i) for ch, i in members) if multi else ()
            transducer = reader.getTransducer(members[0][1])
            device = re.search(r"device=(.*)$", transducer)
            rec.add_stream(
                Stream.regular(
                    name,
                    kind,
                    values,
                    rates.pop(),
                    unit=reader.getPhysicalDimension(members[0][1]).strip(),
                    channels=channels,
                    device=device.group(1).strip() if device else "",
                )
            )
        onsets, durations, texts = reader.readAnnotations()
        for onset, duration, text in zip(onsets, durations, texts, strict=True):
            if duration > 0:
                rec.intervals.append(Interval(float(onset), float(duration), str(text)))
            else:
                label, sep, value = str(text).rpartition("=")
                try:
                    rec.events.append(
                        Event(float(onset), label, float(value)) if sep else Event(float(onset), str(text))
                    )
                except ValueError:
                    rec.events.append(Event(float(onset), str(text)))
    finally:
        reader.close()
    return rec
