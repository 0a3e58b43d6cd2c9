"""The window grid shared by both drivers: window ends at ``origin + window + k * hop``."""

from __future__ import annotations

import math

from attunexr.errors import ConfigurationError

__all__ = ["check_grid", "first_index", "window_end"]


def check_grid(window: float, hop: float, origin: float) -> None:
    if not (math.isfinite(window) and window > 0):
        raise ConfigurationError(f"window must be a positive number of seconds, got {window!r}")
    if not (math.isfinite(hop) and hop > 0):
        raise ConfigurationError(f"hop must be a positive number of seconds, got {hop!r}")
    if not math.isfinite(origin):
        raise ConfigurationError(f"origin must be a finite time in seconds, got {origin!r}")


def window_end(origin: float, window: float, hop: float, k: int) -> float:
    """End of the ``k``-th window (computed the same way everywhere, so both drivers get identical floats)."""
    return origin + window + k * hop


def first_index(origin: float, window: float, hop: float, t_first: float) -> int:
    """Index of the first window that ends after ``t_first`` (the first sample), never negative."""
    k = max(0, math.floor((t_first - origin - window) / hop))
    while window_end(origin, window, hop, k) <= t_first:
        k += 1
    while k > 0 and window_end(origin, window, hop, k - 1) > t_first:
        k -= 1
    return k
