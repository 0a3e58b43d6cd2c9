"""Model-side derived features: person-relative deltas and causal context over the preceding windows.

For base feature ``f`` of a window ending at ``t`` the design holds, depending on ``normalize``:

- ``f`` (raw value; kept unless ``keep_raw=False`` or, with a person reference, ``raw_mask`` excludes it: the
  detectors leave out absolute levels whose scale depends on the device, see ``device_robust``),
- ``f:rel`` = ``f - ref`` where ``ref`` is the median of ``f`` over the person's own baseline windows
  (``normalize="baseline"``; deployable: a clinic records the rest before exposure) or over the whole recording
  (``normalize="recording"``; label-free but not deployable live),
- ``f:ctx`` = mean of ``f`` (minus ``ref`` when normalized) over the last ``context`` windows, current included,
- ``f:trend`` = ``f(t) - f(t - context windows)``,
- ``f:run`` (``running=True``) = ``f`` minus the median of ``f`` over all windows of the session so far (a causal,
  label-free person reference that follows slow sensor drift),
- ``f:dmax`` and ``f:dmin`` (``long > 0``) = the context mean of ``f`` (over the last ``context`` windows, or the
  window itself) minus its maximum / minimum over the last ``long`` windows, current included: how far a signal
  has fallen from its recent peak (recovery after a stressor still looks aroused in absolute terms but sits below
  the peak) or risen from its recent trough (the onset of a response). With a person reference (``normalize``
  other than ``"none"``) the history before the first ``long`` windows is taken to be at the reference level, so
  these features do not grow mechanically with the length of the session so far (which would encode time since
  the start).

Everything uses only the current and preceding windows of the same recording (causal) and no time since the start
of a protocol. The same arithmetic runs row by row live (:class:`OnlineDesign`), giving identical values.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError

__all__ = ["NORMALIZATIONS", "OnlineDesign", "design_names", "offline_design", "recording_keys"]

NORMALIZATIONS = ("none", "baseline", "recording")
KEY_COLUMNS = ("dataset", "subject", "session")


def _check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZATIONS:
        raise ConfigurationError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, not {normalize!r}")


def recording_keys(df: pd.DataFrame) -> NDArray[np.object_]:
    """One key per row identifying its recording (dataset/subject/session columns that exist; else one key)."""
    cols = [c for c in KEY_COLUMNS if c in df.columns]
    if not cols:
        return np.full(len(df), "recording", dtype=object)
    key = df[cols[0]].astype(str)
    for c in cols[1:]:
        key = key + "/" + df[c].astype(str)
    return key.to_numpy(dtype=object)  # type: ignore[no-any-return]


def _raw_keep(n: int, normalize: str, raw_mask: Sequence[bool] | None) -> NDArray[np.bool_]:
    """Which base features keep their raw value (all without a person reference: nothing else carries them)."""
    if raw_mask is None or normalize == "none":
        return np.ones(n, dtype=bool)
    keep = np.asarray(raw_mask, dtype=bool)
    if keep.shape != (n,):
        raise ConfigurationError(f"raw_mask needs one flag per base feature ({n}), got {keep.shape}")
    return keep


def design_names(
    base: Sequence[str],
    normalize: str,
    context: int,
    keep_raw: bool,
    running: bool = False,
    long: int = 0,
    raw_mask: Sequence[bool] | None = None,
) -> list[str]:
    """Names of the design columns, in order."""
    _check_normalize(normalize)
    names: list[str] = []
    if keep_raw or normalize == "none":
        keep = _raw_keep(len(base), normalize, raw_mask)
        names += [f for f, k in zip(base, keep, strict=True) if k]
    if normalize != "none":
        names += [f"{f}:rel" for f in base]
    if context > 1:
        names += [f"{f}:ctx" for f in base] + [f"{f}:trend" for f in base]
    if running:
        names += [f"{f}:run" for f in base]
    if long > 0:
        names += [f"{f}:dmax" for f in base] + [f"{f}:dmin" for f in base]
    return names


def _nanmedian(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column medians ignoring NaN (NaN for all-NaN columns); a sort-based version of ``np.nanmedian``."""
    if a.shape[0] == 0:
        return np.full(a.shape[1], np.nan)
    s = np.sort(a, axis=0)  # NaN sort last
    n = (~np.isnan(a)).sum(axis=0)
    cols = np.arange(a.shape[1])
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = (s[lo, cols] + s[hi, cols]) / 2.0
    return np.where(n > 0, med, np.nan)


def offline_design(
    values: NDArray[np.float64],
    keys: NDArray[np.object_],
    order_time: NDArray[np.float64],
    is_baseline: NDArray[np.bool_],
    normalize: str,
    context: int,
    keep_raw: bool,
    running: bool = False,
    long: int = 0,
    raw_mask: Sequence[bool] | None = None,
) -> NDArray[np.float64]:
    """The design matrix for a table of windows of one or more recordings (rows in any order).

    Parameters
    ----------
    values
        ``(n, p)`` base features (NaN = missing).
    keys
        Recording key of each row; context and references never cross recordings.
    order_time
        Window end time; rows are processed in this order within a recording.
    is_baseline
        Rows from the person's baseline rest (used only when ``normalize="baseline"``).
    """
    _check_normalize(normalize)
    n, p = values.shape
    blocks: list[NDArray[np.float64]] = []
    ref = np.full((n, p), np.nan)
    ctx = np.full((n, p), np.nan)
    trend = np.full((n, p), np.nan)
    run = np.full((n, p), np.nan)
    dmax = np.full((n, p), np.nan)
    dmin = np.full((n, p), np.nan)
    frame = pd.DataFrame({"key": keys, "t": order_time, "i": np.arange(n)})
    for _, grp in frame.groupby("key", sort=False):
        idx = grp.sort_values("t", kind="stable")["i"].to_numpy()
        v = values[idx]
        if normalize == "baseline":
            b = is_baseline[idx]
            ref[idx] = _nanmedian(v[b]) if b.any() else np.full(p, np.nan)
        elif normalize == "recording":
            ref[idx] = _nanmedian(v)
        # context mean of each feature (the window itself without context)
        smooth = pd.DataFrame(v).rolling(context, min_periods=1).mean().to_numpy() if context > 1 else v
        if context > 1:
            ctx[idx] = smooth
            trend[idx] = v - pd.DataFrame(v).shift(context).to_numpy()
        if running:
            run[idx] = v - pd.DataFrame(v).expanding(min_periods=1).median().to_numpy()
        if long > 0:
            roll = pd.DataFrame(smooth).rolling(long, min_periods=1)
            hi, lo = roll.max().to_numpy(copy=True), roll.min().to_numpy(copy=True)
            if normalize != "none":
                # the history before the first `long` windows is taken to be at the person's reference level
                short = np.arange(idx.size) < long - 1
                r = ref[idx][short]
                hi[short] = np.fmax(hi[short], r)
                lo[short] = np.fmin(lo[short], r)
            dmax[idx] = smooth - hi
            dmin[idx] = smooth - lo
    if keep_raw or normalize == "none":
        blocks.append(values[:, _raw_keep(p, normalize, raw_mask)])
    if normalize != "none":
        blocks.append(values - ref)
    if context > 1:
        blocks += [ctx - ref if normalize != "none" else ctx, trend]
    if running:
        blocks.append(run)
    if long > 0:
        blocks += [dmax, dmin]
    return np.hstack(blocks) if blocks else np.empty((n, 0))


class OnlineDesign:
    """Row-by-row version of :func:`offline_design` for one recording (live inference).

    ``ref`` is the person's reference vector (baseline median) or ``None`` when not (yet) known.
    """

    def __init__(
        self,
        n_base: int,
        normalize: str,
        context: int,
        keep_raw: bool,
        running: bool = False,
        long: int = 0,
        raw_mask: Sequence[bool] | None = None,
    ) -> None:
        _check_normalize(normalize)
        self.raw_keep = _raw_keep(n_base, normalize, raw_mask)
        self.running = running
        self.long = long
        self.normalize = normalize
        self.context = context
        self.keep_raw = keep_raw
        self.n_base = n_base
        self.history: deque[NDArray[np.float64]] = deque(maxlen=max(context, 1) + 1)
        self.smoothed: deque[NDArray[np.float64]] = deque(maxlen=max(long, 1))
        self.ref: NDArray[np.float64] | None = None
        self.collected: list[NDArray[np.float64]] = []
        self.frozen = False
        self.labelled = False
        self.seen: list[NDArray[np.float64]] = []

    def push(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        """Add the next window's base features; return its design row."""
        self.history.append(v)
        if self.normalize == "recording" or self.running:
            self.seen.append(v)
        if self.normalize == "recording":
            # Live there is no whole recording: use the running median of the windows seen so far.
            self.ref = _nanmedian(np.vstack(self.seen))
        ref = self.ref if self.ref is not None else np.full(self.n_base, np.nan)
        parts: list[NDArray[np.float64]] = []
        if self.keep_raw or self.normalize == "none":
            parts.append(v[self.raw_keep])
        if self.normalize != "none":
            parts.append(v - ref)
        mean = v  # context mean of each feature (the window itself without context)
        if self.context > 1:
            hist = np.vstack(list(self.history)[-self.context :])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(hist, axis=0)
            parts.append(mean - ref if self.normalize != "none" else mean)
            if len(self.history) > self.context:
                parts.append(v - self.history[-self.context - 1])
            else:
                parts.append(np.full(self.n_base, np.nan))
        if self.running:
            parts.append(v - _nanmedian(np.vstack(self.seen)))
        if self.long > 0:
            self.smoothed.append(mean)
            recent = np.vstack(list(self.smoothed))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                hi, lo = np.nanmax(recent, axis=0), np.nanmin(recent, axis=0)
            if self.normalize != "none" and len(self.smoothed) < self.long:
                hi, lo = np.fmax(hi, ref), np.fmin(lo, ref)
            parts += [mean - hi, mean - lo]
        return np.concatenate(parts)
