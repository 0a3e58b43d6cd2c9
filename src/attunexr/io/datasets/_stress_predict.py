"""Stress-Predict (Iqbal et al., Sensors 2022): Empatica E4 recordings of 35 volunteers with task labels.

Task boundaries come from two imperfect sources that are combined here:

* ``Raw_data/SXX/tags_SXX.csv``: E4 button presses (Unix seconds, UTC), precise but not always right;
* ``Processed_data/Time_logs.xlsx``: the experimenter's log, one minute resolution, a 12-hour clock without AM/PM
  (afternoon hours appear as 1, 2, 3 ...), Irish time (= UTC in February and March 2022).

Rule (see :func:`derive_boundaries`): each logged boundary (start and end of Stroop, interview and
hyperventilation) is converted to UTC, choosing the 12-hour reading that falls in the recording; then the tags
inside the recording are matched to the boundaries in order (a monotone assignment minimising the total
distance, each tag at most :data:`TAG_TOLERANCE_S` from its boundary); an unmatched boundary keeps the logged
minute. Tags outside the recording are rejected (S18, S30: impossible first tag). If any tag lies farther than the
tolerance from every boundary written in the log, the tags do not follow the protocol (S06) and the whole session
falls back to the log. The result is checked against the authors' per-second 0/1 file
(``Improved_All_Combined_hr_rsp_binary.csv``): see :meth:`StressPredict.agreement`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from attunexr.errors import DataFormatError
from attunexr.io._empatica import read_empatica
from attunexr.io.datasets._registry import Dataset, DatasetCard
from attunexr.recording import Event, Interval, Recording

__all__ = ["AgreementReport", "StressPredict", "TaskBoundaries", "derive_boundaries"]

logger = logging.getLogger(__name__)

#: Largest distance (s) between a logged boundary and the button tag that replaces it.
TAG_TOLERANCE_S = 180.0
#: Task columns of ``Time_logs.xlsx`` and the interval label each becomes.
TASKS: tuple[tuple[str, str], ...] = (
    ("Stroop Test", "stroop"),
    ("Interview", "interview"),
    ("Hyperventilation", "hyperventilation"),
)
STRESS_LABELS = frozenset(label for _, label in TASKS)
_E4_REQUIRED = ("ACC.csv", "BVP.csv", "EDA.csv", "HR.csv", "IBI.csv", "TEMP.csv")
_PROCESSED = "Processed_data/Improved_All_Combined_hr_rsp_binary.csv"
_TIME_LOGS = "Processed_data/Time_logs.xlsx"
_QUESTIONNAIRES = "Processed_data/Questionnaires_scores.xlsx"


@dataclass(frozen=True)
class TaskBoundaries:
    """Start and end (Unix seconds, UTC) of each task of one session and where each came from."""

    subject: str
    times: dict[str, tuple[float, float]]
    sources: dict[str, tuple[str, str]]
    tags: tuple[float, ...]
    rejected_tags: tuple[float, ...]
    fallback_reason: str = ""


@dataclass(frozen=True)
class AgreementReport:
    """Agreement of the derived labels with the authors' per-second 0/1 file.

    ``per_subject[s]`` is the fraction of that subject's seconds where (our label is a task) == ``Label``; each
    second is judged at its centre. ``overall`` pools every second of every subject in the file.
    """

    per_subject: dict[str, float]
    n_seconds: dict[str, int]
    overall: float
    missing: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "per_subject": dict(self.per_subject),
            "n_seconds": int(sum(self.n_seconds.values())),
            "subjects_not_in_file": list(self.missing),
        }


# --- parsing the spreadsheets ------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _read_time_logs(path: Path, mtime: float) -> dict[str, dict[str, Any]]:
    """Rows of ``Time_logs.xlsx`` by subject: the date and every (start, end) pair by column title."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a broken workbook
        raise DataFormatError(path, f"cannot be read as an Excel workbook: {err}") from err
    try:
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()
    if len(rows) < 3:
        raise DataFormatError(path, "truncated: expected two header rows and one row per subject")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    needed = [name for name, _ in TASKS] + ["Date"]
    missing = [n for n in needed if n not in header]
    if missing:
        raise DataFormatError(path, f"wrong header: columns {missing} not found in the first row")
    col = {h: i for i, h in enumerate(header) if h}
    out: dict[str, dict[str, Any]] = {}
    for row in rows[2:]:
        sid = row[0]
        if not isinstance(sid, str) or not sid.strip().startswith("S"):
            continue
        sid = sid.strip()
        date = row[col["Date"]]
        if not isinstance(date, dt.datetime | dt.date):
            raise DataFormatError(path, f"row {sid}: the Date column holds {date!r}, not a date")
        logged: list[dt.time] = []
        for cell in row[col.get("Consent", 4) : col["Date"]]:
            if isinstance(cell, dt.time):
                logged.append(cell)
        tasks: dict[str, tuple[dt.time, dt.time]] = {}
        for name, label in TASKS:
            start, end = row[col[name]], row[col[name] + 1]
            if not (isinstance(start, dt.time) and isinstance(end, dt.time)):
                raise DataFormatError(path, f"row {sid}: {name} start/end are {start!r}/{end!r}, not times")
            tasks[label] = (start, end)
        out[sid] = {"date": date, "tasks": tasks, "logged": logged}
    return out


@functools.lru_cache(maxsize=4)
def _read_questionnaires(path: Path, mtime: float) -> dict[str, dict[str, float]]:
    """PSS and STAI totals before and after the session, by subject, from ``Questionnaires_scores.xlsx``."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:
        raise DataFormatError(path, f"cannot be read as an Excel workbook: {err}") from err
    out: dict[str, dict[str, float]] = {}
    try:
        for ws in wb.worksheets:
            key = "stai" if "STAI" in ws.title.upper() else "pss" if "PSS" in ws.title.upper() else None
            if key is None:
                continue
            rows = list(ws.iter_rows(values_only=True))
            total = next((r for r in rows if r and isinstance(r[0], str) and r[0].strip() == "Total"), None)
            if not rows or total is None:
                raise DataFormatError(path, f"sheet {ws.title!r}: no subject header row or no 'Total' row")
            for j, sid in enumerate(rows[0]):
                if isinstance(sid, str) and sid.startswith("S") and j + 1 < len(total):
                    for k, when in ((j, "before"), (j + 1, "after")):
                        if isinstance(total[k], int | float):
                            out.setdefault(sid, {})[f"{key}_total_{when}"] = float(total[k])
    finally:
        wb.close()
    return out


@functools.lru_cache(maxsize=4)
def _read_processed(path: Path, mtime: float) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, engine="c", usecols=["Participant", "Time(sec)", "Label"])
    except (ValueError, pd.errors.ParserError) as err:
        raise DataFormatError(path, f"expected columns Participant, Time(sec), Label: {err}") from err
    if df.isna().any().any():
        raise DataFormatError(path, "NaN in Participant, Time(sec) or Label")
    return df


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        raise DataFormatError(path, "missing: part of the Stress-Predict dataset") from None


@functools.lru_cache(maxsize=64)
def _session_span(folder: Path, mtime: float) -> tuple[float, float]:
    """(start, end) Unix seconds of a session from the header and length of its ``EDA.csv``."""
    path = folder / "EDA.csv"
    raw = path.read_bytes()
    lines = raw.split(b"\n", 2)
    try:
        start = float(lines[0].split(b",")[0])
        rate = float(lines[1].split(b",")[0])
    except (ValueError, IndexError) as err:
        raise DataFormatError(path, "wrong header: expected the Unix start time and the rate in Hz") from err
    n = raw.count(b"\n") - 2 + (0 if raw.endswith(b"\n") else 1)
    return start, start + max(n, 0) / rate


def _read_tags(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataFormatError(path, "missing: the E4 button tags of this session")
    text = path.read_text().split()
    try:
        tags = np.array([float(t) for t in text], dtype=np.float64)
    except ValueError as err:
        raise DataFormatError(path, f"not a list of Unix timestamps: {err}") from err
    if not np.all(np.isfinite(tags)):
        raise DataFormatError(path, "NaN or infinite tag")
    return tags


# --- the boundary rule -------------------------------------------------------------------------------
def _to_utc(t: dt.time, date: dt.date, near: float) -> float:
    """A 12-hour-clock time without AM/PM on ``date`` (Irish time = UTC) → the Unix reading nearest ``near``."""
    day = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()
    hours = {t.hour % 12, t.hour % 12 + 12}
    return min((day + h * 3600 + t.minute * 60 + t.second for h in hours), key=lambda u: abs(u - near))


def _monotone_match(bounds: list[float], tags: np.ndarray, tol: float) -> list[int | None]:
    """Assign tags to boundaries in order, minimising total |tag - boundary| (unmatched boundary costs ``tol``)."""
    best: dict[int, tuple[float, list[int | None]]] = {-1: (0.0, [])}
    for b in bounds:
        nxt: dict[int, tuple[float, list[int | None]]] = {}
        for last, (cost, path) in best.items():
            options: list[tuple[int, float, int | None]] = [(last, cost + tol, None)]
            for j in range(last + 1, len(tags)):
                d = abs(float(tags[j]) - b)
                if d <= tol:
                    options.append((j, cost + d, j))
            for key, c, pick in options:
                if key not in nxt or c < nxt[key][0]:
                    nxt[key] = (c, [*path, pick])
        best = nxt
    return min(best.values(), key=lambda v: v[0])[1]


def derive_boundaries(
    subject: str,
    date: dt.date,
    logged_tasks: dict[str, tuple[dt.time, dt.time]],
    logged_all: list[dt.time],
    tags: np.ndarray,
    span: tuple[float, float],
    tolerance: float = TAG_TOLERANCE_S,
) -> TaskBoundaries:
    """Combine the time log and the button tags of one session into task boundaries (module docstring)."""
    start, end = span
    mid = 0.5 * (start + end)
    inside = np.sort(tags[(tags >= start) & (tags <= end)])
    rejected = tuple(float(t) for t in tags if not (start <= t <= end))
    order = [label for _, label in TASKS]
    logged = [_to_utc(logged_tasks[label][k], date, mid) for label in order for k in (0, 1)]
    every_logged = [_to_utc(t, date, mid) for t in logged_all] or logged
    far = [float(t) for t in inside if min(abs(t - b) for b in every_logged) > tolerance]
    reason = ""
    if far:
        picks: list[int | None] = [None] * len(logged)
        reason = (
            f"{len(far)} tag(s) lie more than {tolerance:g} s from every logged boundary: the tags do not follow "
            "the protocol, so every boundary comes from the time log"
        )
    else:
        picks = _monotone_match(logged, inside, tolerance)
    chosen = [float(inside[j]) if j is not None else b for j, b in zip(picks, logged, strict=True)]
    src = ["tag" if j is not None else "log" for j in picks]
    times = {label: (chosen[2 * i], chosen[2 * i + 1]) for i, label in enumerate(order)}
    sources = {label: (src[2 * i], src[2 * i + 1]) for i, label in enumerate(order)}
    if any(b <= a for a, b in zip(chosen, chosen[1:], strict=False)):
        raise DataFormatError(
            None, f"Stress-Predict {subject}: derived task boundaries are not in order: {chosen}"
        )
    return TaskBoundaries(subject, times, sources, tuple(float(t) for t in inside), rejected, reason)


# --- the adapter -------------------------------------------------------------------------------------
class StressPredict(Dataset):
    """Stress-Predict: 35 people, Empatica E4, Stroop / interview / hyperventilation with rests (Galway).

    Intervals: ``baseline`` (from the start of the recording to the first task: the person's own pre-task rest),
    ``stroop``, ``interview``, ``hyperventilation`` and ``rest`` (between and after the tasks, including the
    final questionnaire). Events: ``tag`` at every E4 button press inside the recording.
    """

    card = DatasetCard(
        name="stress-predict",
        title="Stress-Predict: wearable stress monitoring pilot (Empatica E4)",
        folder="stress-predict",
        origin="https://github.com/italha-d/Stress-Predict-Dataset",
        git_url="https://github.com/italha-d/Stress-Predict-Dataset.git",
        licence="MIT",
        citation=(
            "T. Iqbal et al., Stress Monitoring Using Wearable Sensors: A Pilot Study and Stress-Predict Dataset. "
            "Sensors 22(21):8135, 2022. doi:10.3390/s22218135"
        ),
        n_subjects=35,
        signals={
            "bvp": "PPG (BVP) 64 Hz",
            "eda": "EDA 4 Hz, uS",
            "temp": "skin temperature 4 Hz, degC",
            "acc": "accelerometer 32 Hz, 3 axes, g",
            "hr": "E4 heart rate 1 Hz, bpm",
            "ibi": "E4 inter-beat intervals, irregular, s",
        },
        labels={
            "baseline": "rest before the first task (own pre-task reference)",
            "stroop": "Stroop colour-word test (stressor)",
            "interview": "TSST-like interview (stressor)",
            "hyperventilation": "hyperventilation provocation (physiological stressor)",
            "rest": "relaxation between and after tasks, final questionnaire",
        },
        caveats=(
            "Task boundaries are derived from E4 button tags and a minute-resolution time log (12-hour clock "
            "without AM/PM, Irish time = UTC); see `agreement` for the check against the authors' 0/1 file.",
            "S06's tags do not follow the task order: its boundaries come from the log. The first tag of S18 and "
            "S30 is an impossible timestamp and is ignored. S17's Stroop tags disagree with the authors' file.",
            "S01 is not in the authors' per-second 0/1 file, so its labels cannot be cross-checked.",
            "Hyperventilation is a physiological, not a psychological, stressor: keep the task identity.",
            "The task order is the same for everyone: never use time since the start as a feature.",
            "35 healthy volunteers at one site: report external validation before claiming generalisation.",
        ),
        site="Galway",
        population="35 healthy volunteers, University of Galway, Feb-Mar 2022",
    )

    # --- files -----------------------------------------------------------------------------------------
    metadata_variables: ClassVar[dict[str, str]] = {
        "pss_total_before": "Perceived Stress Scale total, answered before the session (Questionnaires_scores.xlsx)",
        "stai_total_before": "STAI anxiety total, answered before the session (Questionnaires_scores.xlsx)",
    }

    def subject_metadata(self, data_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
        path = self.root(data_dir) / _QUESTIONNAIRES
        if not path.is_file():
            return {}
        scores = _read_questionnaires(path, _mtime(path))
        return {
            sid: {k: v for k, v in answers.items() if k in self.metadata_variables}
            for sid, answers in scores.items()
        }

    def subjects(self, data_dir: str | Path | None = None) -> list[str]:
        raw = self.root(data_dir) / "Raw_data"
        if not raw.is_dir():
            raise DataFormatError(raw, "missing: the Stress-Predict Raw_data folder")
        return sorted(
            p.name for p in raw.iterdir() if p.is_dir() and p.name.startswith("S") and p.name[1:].isdigit()
        )

    def _logs(self, root: Path) -> dict[str, dict[str, Any]]:
        path = root / _TIME_LOGS
        return _read_time_logs(path, _mtime(path))

    def boundaries(self, subject: str, data_dir: str | Path | None = None) -> TaskBoundaries:
        """The derived task boundaries (Unix seconds) of one subject, without reading the signals."""
        root = self.root(data_dir)
        return self._boundaries(root, subject)

    def _boundaries(self, root: Path, subject: str) -> TaskBoundaries:
        logs = self._logs(root)
        if subject not in logs:
            raise DataFormatError(root / _TIME_LOGS, f"no row for subject {subject}")
        folder = root / "Raw_data" / subject
        span = _session_span(folder, _mtime(folder / "EDA.csv"))
        tags = _read_tags(folder / f"tags_{subject}.csv")
        row = logs[subject]
        return derive_boundaries(subject, row["date"], row["tasks"], row["logged"], tags, span)

    # --- loading ---------------------------------------------------------------------------------------
    def load(self, subject: str, data_dir: str | Path | None = None) -> Recording:
        root = self.root(data_dir)
        self._check_subject(subject, data_dir)
        folder = root / "Raw_data" / subject
        rec = read_empatica(folder, subject=subject, dataset=self.name, require=_E4_REQUIRED)
        rec.meta.site = self.card.site
        rec.meta.device = "Empatica E4"
        rec.meta.session = "1"
        t0 = float(rec.meta.start_time or 0.0)
        bounds = self._boundaries(root, subject)
        rec.intervals.extend(_intervals(bounds, t0, rec.t_end))
        rec.events.extend(Event(tag - t0, "tag") for tag in bounds.tags)
        extra: dict[str, Any] = {
            "boundary_sources": {k: list(v) for k, v in bounds.sources.items()},
            "boundaries_utc": {k: list(v) for k, v in bounds.times.items()},
            "rejected_tags": list(bounds.rejected_tags),
            "fallback_reason": bounds.fallback_reason,
        }
        qpath = root / _QUESTIONNAIRES
        if qpath.is_file():
            extra["questionnaires"] = _read_questionnaires(qpath, _mtime(qpath)).get(subject, {})
        agreement = self._agreement_one(root, subject, bounds)
        extra["label_agreement"] = agreement[0] if agreement else None
        rec.meta.extra.update(extra)
        return rec

    # --- checking the labels ---------------------------------------------------------------------------
    def _agreement_one(self, root: Path, subject: str, bounds: TaskBoundaries) -> tuple[float, int] | None:
        path = root / _PROCESSED
        if not path.is_file():
            return None
        df = _read_processed(path, _mtime(path))
        part = df[df["Participant"] == int(subject[1:])]
        if part.empty:
            return None
        centre = part["Time(sec)"].to_numpy(dtype=np.float64) + 0.5
        ours = np.zeros(centre.shape, dtype=bool)
        for a, b in bounds.times.values():
            ours |= (centre >= a) & (centre < b)
        same = ours == (part["Label"].to_numpy() == 1)
        return float(same.mean()), int(same.size)

    def agreement(self, data_dir: str | Path | None = None) -> AgreementReport:
        """Per-subject and overall agreement of the derived labels with the authors' per-second 0/1 file."""
        root = self.root(data_dir)
        per: dict[str, float] = {}
        counts: dict[str, int] = {}
        missing: list[str] = []
        for subject in self.subjects(data_dir):
            res = self._agreement_one(root, subject, self._boundaries(root, subject))
            if res is None:
                missing.append(subject)
                continue
            per[subject], counts[subject] = res
        total = sum(counts.values())
        overall = sum(per[s] * counts[s] for s in per) / total if total else float("nan")
        return AgreementReport(per, counts, overall, tuple(missing))

    def info(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        out = super().info(data_dir)
        root = self.root(data_dir)
        durations: dict[str, float] = {}
        counts: dict[str, int] = {}
        sources = {"tag": 0, "log": 0}
        total = 0.0
        for subject in out["subjects"]:
            b = self._boundaries(root, subject)
            span = _session_span(root / "Raw_data" / subject, _mtime(root / "Raw_data" / subject / "EDA.csv"))
            total += span[1] - span[0]
            for iv in _intervals(b, span[0], span[1] - span[0]):
                durations[iv.label] = durations.get(iv.label, 0.0) + iv.duration
                counts[iv.label] = counts.get(iv.label, 0) + 1
            for pair in b.sources.values():
                for s in pair:
                    sources[s] += 1
        out["label_counts"] = counts
        out["label_seconds"] = {k: round(v, 1) for k, v in durations.items()}
        out["recorded_seconds"] = round(total, 1)
        out["boundary_sources"] = sources
        out["agreement"] = self.agreement(data_dir).as_dict()
        return out


def _intervals(bounds: TaskBoundaries, t0: float, t_end: float) -> list[Interval]:
    """Intervals on the recording clock (zero at ``t0``) covering ``[0, t_end)``: baseline, tasks and rests."""
    out: list[Interval] = []
    cursor = 0.0
    for i, (_, label) in enumerate(TASKS):
        a, b = (x - t0 for x in bounds.times[label])
        if a > cursor:
            out.append(Interval(cursor, a - cursor, "baseline" if i == 0 else "rest"))
        out.append(Interval(a, b - a, label))
        cursor = b
    if t_end > cursor:
        out.append(Interval(cursor, t_end - cursor, "rest"))
    return out
