"""Build, write and read FHIR Bundles of one attunexr session.

Resources are assembled as plain JSON-ready dicts and then validated as a whole by ``fhir.resources`` (pydantic
models of the FHIR R4B and R5 structure definitions). ``fhir.resources`` checks structure and data types, not
value-set bindings; the codes used are fixed in :mod:`attunexr.interop._codes`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.interop import _codes as C
from attunexr.interop._adverse import adverse_event_resource
from attunexr.interop._context import ExportContext
from attunexr.interop._instruments import InstrumentAdministration, instrument_resources
from attunexr.interop._physiology import estimate_observations, physiology_observations
from attunexr.interop._time import fhir_datetime
from attunexr.recording import Recording
from attunexr.safety import AdverseEvent, AdverseEventRegistry

if TYPE_CHECKING:
    from attunexr.models import Estimate

__all__ = ["FHIR_VERSIONS", "bundle_class", "bundle_summary", "read_bundle", "session_bundle", "write_bundle"]

logger = logging.getLogger(__name__)

#: FHIR releases attunexr writes. R4B is the default: most clinic EHRs speak R4.
FHIR_VERSIONS: tuple[str, ...] = ("R4B", "R5")
_BUNDLE_TYPES = ("transaction", "collection")
_PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PSEUDONYMIZED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "PSEUDED",
    "display": "pseudonymized",
}


def bundle_class(version: str = "R4B") -> Any:
    """The ``fhir.resources`` Bundle model of a FHIR release (``"R4B"`` or ``"R5"``)."""
    if version == "R4B":
        from fhir.resources.R4B.bundle import Bundle as BundleR4B

        return BundleR4B
    if version == "R5":
        from fhir.resources.bundle import Bundle as BundleR5

        return BundleR5
    raise ConfigurationError(f"FHIR version {version!r} is not one of {list(FHIR_VERSIONS)}")


def _validation_problem(err: ValidationError, limit: int = 5) -> str:
    parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in err.errors()[:limit]]
    more = err.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more problem(s)" if more > 0 else "")


def _check_pseudonym(pseudonym: str) -> str:
    if not isinstance(pseudonym, str) or not _PSEUDONYM.match(pseudonym):
        raise ConfigurationError(
            f"patient pseudonym {pseudonym!r} must be 1-64 characters of letters, digits, '.', '_' or '-' "
            "(a pseudonym, never a name)"
        )
    return pseudonym


def _features_of(
    source: Recording | pd.DataFrame, window: float, hop: float
) -> tuple[pd.DataFrame, float | None, str, str, str]:
    """Feature rows, start time, dataset, session and source subject of the input."""
    if isinstance(source, Recording):
        from attunexr.features import extract

        meta = source.meta
        return (
            extract(source, window=window, hop=hop),
            meta.start_time,
            meta.dataset,
            meta.session,
            meta.subject,
        )
    if isinstance(source, pd.DataFrame):

        def one(col: str) -> str:
            vals = source[col].dropna().unique() if col in source.columns else []
            if len(vals) > 1:
                raise ConfigurationError(
                    f"feature table mixes several {col}s {sorted(map(str, vals))}; "
                    "export one session at a time"
                )
            return str(vals[0]) if len(vals) else ""

        return source, None, one("dataset"), one("session"), one("subject")
    raise ConfigurationError(
        f"session_bundle needs a Recording or a feature table from attunexr.features.extract, got {type(source).__name__}"
    )


def session_bundle(
    recording_or_features: Recording | pd.DataFrame,
    patient_pseudonym: str,
    *,
    instruments: Sequence[InstrumentAdministration] = (),
    adverse_events: AdverseEventRegistry | Iterable[AdverseEvent] = (),
    estimates: Iterable[Estimate] = (),
    every: float = 60.0,
    window: float = 60.0,
    hop: float = 10.0,
    start_time: float | None = None,
    version: str = "R4B",
    bundle_type: str = "transaction",
) -> Any:
    """A FHIR Bundle of one session: patient, exposure session, physiology, estimates, instruments, adverse events.

    Parameters
    ----------
    recording_or_features
        A :class:`~attunexr.recording.Recording` (features are extracted with ``window``/``hop``) or the rows of
        :func:`attunexr.features.extract` for one session.
    patient_pseudonym
        The only patient identifier exported (system :data:`~attunexr.interop.PSEUDONYM_SYSTEM`); no names, birth
        dates, addresses, sites or source subject IDs are written.
    instruments
        Completed instruments, scored by :mod:`attunexr.clinical`.
    adverse_events
        A registry or events from :mod:`attunexr.safety`; every event must belong to this patient (its ``subject``
        is the pseudonym or the recording's subject).
    estimates
        Arousal estimates (:class:`attunexr.models.Estimate`) for the same recording clock.
    every
        Summary period in seconds: one Observation per exported feature (and one arousal Observation) per period.
    window, hop
        Feature window and step (seconds); ``window`` also dates the estimates' periods.
    start_time
        Unix time (UTC) of recording clock zero; defaults to ``recording.meta.start_time``. Required for a feature
        table unless every time given is absolute.
    version
        ``"R4B"`` (default; ``fhir.resources.R4B``) or ``"R5"``.
    bundle_type
        ``"transaction"`` (POST every entry; the Patient is created only if no patient has this pseudonym) or
        ``"collection"``.

    Returns
    -------
    fhir.resources Bundle
        Validated Bundle model of the chosen release.
    """
    pseudonym = _check_pseudonym(patient_pseudonym)
    if bundle_type not in _BUNDLE_TYPES:
        raise ConfigurationError(f"bundle type {bundle_type!r} is not one of {list(_BUNDLE_TYPES)}")
    cls = bundle_class(version)
    features, meta_start, dataset, session, source_subject = _features_of(recording_or_features, window, hop)
    start = start_time if start_time is not None else meta_start
    if isinstance(recording_or_features, pd.DataFrame) and not features.empty:
        window = float((features["t_end"] - features["t_start"]).iloc[0])

    namespace = f"urn:attunexr:export:{pseudonym}:{dataset}:{session}:{start}"

    def url(key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{namespace}:{key}')}"

    ctx = ExportContext(patient=url("patient"), procedure=url("procedure"), start_time=start, version=version)
    entries: list[tuple[str, dict[str, Any]]] = [
        (
            "patient",
            {
                "resourceType": "Patient",
                "meta": {"security": [_PSEUDONYMIZED]},
                "identifier": [{"system": C.PSEUDONYM_SYSTEM, "value": pseudonym}],
            },
        ),
    ]
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": C.concept(C.VR_SESSION),
        "subject": ctx.subject,
    }
    if not features.empty:
        period = {
            "start": fhir_datetime(float(features["t_start"].min()), start, "session start"),
            "end": fhir_datetime(float(features["t_end"].max()), start, "session end"),
        }
        procedure["performedPeriod" if version == "R4B" else "occurrencePeriod"] = period
    entries.append(("procedure", procedure))
    entries += physiology_observations(features, ctx, every=every)
    entries += estimate_observations(estimates, ctx, every=every, window=window)
    for i, adm in enumerate(instruments):
        key = f"instrument:{i}:{adm.instrument}"
        entries += instrument_resources(adm, ctx, key, url(f"{key}:response"))
    events = (
        adverse_events.events if isinstance(adverse_events, AdverseEventRegistry) else list(adverse_events)
    )
    own = {pseudonym, source_subject} - {""}
    for ev in events:
        if ev.subject not in own:
            raise ConfigurationError(
                f"adverse event {ev.id} belongs to subject {ev.subject!r}, not to this patient; "
                "pass only this patient's events"
            )
        entries.append((f"adverse-event:{ev.id}", adverse_event_resource(ev, ctx)))

    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": bundle_type,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "entry": [],
    }
    for key, resource in entries:
        entry: dict[str, Any] = {"fullUrl": url(key), "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
            if key == "patient":
                entry["request"]["ifNoneExist"] = f"identifier={C.PSEUDONYM_SYSTEM}|{pseudonym}"
        bundle["entry"].append(entry)
    try:
        model = cls.model_validate(bundle)
    except ValidationError as err:  # a bug in attunexr, not in the caller's data
        raise ConfigurationError(
            f"the FHIR {version} bundle attunexr built is invalid: {_validation_problem(err)}"
        ) from err
    logger.info("built FHIR %s %s bundle with %d entries", version, bundle_type, len(entries))
    return model


def _bundle_json(bundle: Any) -> str:
    dump = getattr(bundle, "model_dump_json", None)
    if dump is None or getattr(bundle, "get_resource_type", lambda: None)() != "Bundle":
        raise ConfigurationError(f"write_bundle needs a fhir.resources Bundle, got {type(bundle).__name__}")
    return str(dump(indent=1, exclude_none=True))


def write_bundle(bundle: Any, path: str | Path) -> Path:
    """Write a Bundle as JSON, atomically: a temporary file in the same folder, flushed, then renamed.

    On any failure the temporary file is removed and an existing file at ``path`` is left as it was.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    text = _bundle_json(bundle)
    if not path.parent.is_dir():
        raise DataFormatError(path, f"cannot write the bundle: folder {path.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DataFormatError(path, f"cannot write the bundle: {err.strerror or err}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("wrote FHIR bundle %s (%d bytes)", path, len(text))
    return path


def read_bundle(path: str | Path, version: str = "R4B") -> Any:
    """Read and validate a FHIR Bundle JSON file.

    Raises
    ------
    DataFormatError
        Naming the file, when it cannot be read, is not JSON, is not a Bundle or fails FHIR ``version`` validation.
    """
    path = Path(path)
    cls = bundle_class(version)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataFormatError(path, f"cannot read the bundle: {err.strerror or err}") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFormatError(path, f"not a JSON file: {err}") from err
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        found = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise DataFormatError(path, f"expected a FHIR Bundle, found resourceType {found!r}")
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise DataFormatError(path, f"not a valid FHIR {version} Bundle: {_validation_problem(err)}") from err


def bundle_summary(bundle: Any) -> dict[str, Any]:
    """Counts and span of a Bundle (model or JSON dict): ``type``, ``entries``, ``resources`` (by type), ``start``,
    ``end`` (the session Procedure's period)."""
    data = bundle if isinstance(bundle, dict) else json.loads(_bundle_json(bundle))
    resources = [e.get("resource", {}) for e in data.get("entry", [])]
    counts = Counter(r.get("resourceType", "?") for r in resources)
    span: dict[str, Any] = {}
    for r in resources:
        if r.get("resourceType") == "Procedure":
            span = r.get("performedPeriod") or r.get("occurrencePeriod") or {}
    return {
        "type": data.get("type"),
        "entries": len(resources),
        "resources": dict(sorted(counts.items())),
        "start": span.get("start"),
        "end": span.get("end"),
    }
