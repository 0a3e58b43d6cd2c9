"""The federated global model as a project detector: an :class:`~attunexr.models.ArousalDetector` whose logistic
regression holds the federated weights.

It runs wherever a registered model runs (``load_model``, ``--models-dir``, live sessions): inputs are the raw
:data:`~attunexr.federated.FEATURES` of a window; the detector log-transforms the skewed ones, fills missing values
with the deploying site's training means, standardizes with that site's statistics and applies the weights. It
abstains (``"poor_signal_quality"``, or ``"signal_gaps"`` when gaps spoiled the window) on windows that miss more
than :attr:`FederatedArousalDetector.max_missing` of its features: imputation would otherwise hide that the
estimate rests on guessed inputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from attunexr.models import ArousalDetector, DetectorState, Estimate

__all__ = ["FederatedArousalDetector"]

#: share of the model's features that may be missing in a window before the estimate abstains
MAX_MISSING = 0.25
_POOR = "poor_signal_quality"
_GAPS = "signal_gaps"


class FederatedArousalDetector(ArousalDetector):
    """An :class:`~attunexr.models.ArousalDetector` (no person reference, no context features) carrying federated
    logistic weights; abstains on windows missing more than :data:`MAX_MISSING` of its features."""

    max_missing = MAX_MISSING

    def missing_share(self, rows: pd.DataFrame) -> NDArray[np.float64]:
        """Share of the model's base features that are missing (absent column or NaN) in each row."""
        base = list(self.feature_names_base_)
        present = [c for c in base if c in rows.columns]
        if not base:
            return np.zeros(len(rows))
        nan = rows[present].isna().to_numpy().sum(axis=1) if present else np.zeros(len(rows))
        return np.asarray((nan + (len(base) - len(present))) / len(base), dtype=np.float64)

    def _abstain_missing(self, rows: pd.DataFrame) -> NDArray[np.bool_]:
        return np.asarray(self.missing_share(rows) > self.max_missing, dtype=bool)

    def _fill_absent(self, rows: pd.DataFrame) -> pd.DataFrame:
        absent = [c for c in self.feature_names_base_ if c not in rows.columns]
        return rows.assign(**{c: np.nan for c in absent}) if absent else rows

    def estimate(self, rows: pd.DataFrame, state: DetectorState | None = None) -> list[Estimate]:
        """Estimates as :meth:`ArousalDetector.estimate` (``state``: the session's live state), abstaining where too
        many features are missing."""
        out = super().estimate(self._fill_absent(rows), state)
        drop = self._abstain_missing(rows)
        gappy = self._gappy(rows)
        return [
            dataclasses.replace(e, abstained=True, reason=_GAPS if gappy[i] else _POOR) if drop[i] else e
            for i, e in enumerate(out)
        ]

    def assess(self, X: pd.DataFrame) -> pd.DataFrame:
        """Batch outputs as :meth:`ArousalDetector.assess`, abstaining where too many features are missing."""
        out = super().assess(self._fill_absent(X))
        drop = self._abstain_missing(X)
        if drop.any():
            out = out.copy()
            out.loc[drop, "abstained"] = True
            out.loc[drop, "reason"] = np.where(self._gappy(X)[drop], _GAPS, _POOR)
        return out
