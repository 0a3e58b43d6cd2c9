"""Times on the recording clock -> FHIR ``dateTime`` strings (UTC)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from attunexr.errors import ConfigurationError

__all__ = ["ABSOLUTE_THRESHOLD", "fhir_datetime"]

#: Times at or above this many seconds are Unix times; below it, seconds on the recording clock (no session lasts
#: three years, and no Unix time of a real session is this small).
ABSOLUTE_THRESHOLD = 1e8


def fhir_datetime(t: float, start_time: float | None, what: str = "time") -> str:
    """Format ``t`` as a FHIR ``dateTime`` in UTC.

    Parameters
    ----------
    t
        Seconds on the recording clock, or a Unix time (>= :data:`ABSOLUTE_THRESHOLD`).
    start_time
        Unix time (UTC) of recording clock zero (``RecordingMeta.start_time``).
    what
        Name used in the error message.
    """
    if not math.isfinite(t):
        raise ConfigurationError(f"{what} {t!r} is not a finite time")
    if t < ABSOLUTE_THRESHOLD:
        if start_time is None:
            raise ConfigurationError(
                f"{what} {t:g} s is on the recording clock but the absolute start time is unknown; "
                "pass start_time= (Unix seconds, UTC) to date the FHIR resources"
            )
        t = start_time + t
    stamp = datetime.fromtimestamp(t, tz=UTC)
    spec = "seconds" if float(t).is_integer() else "milliseconds"
    return stamp.isoformat(timespec=spec).replace("+00:00", "Z")
