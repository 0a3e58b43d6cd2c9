"""`Estimate`: one detector output for one feature window, as the live session consumes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = [
    "Estimate",
    "REASON_OK",
    "REASON_POOR_QUALITY",
    "REASON_UNCERTAIN",
    "REASON_ATYPICAL",
    "REASON_BASELINE",
    "REASON_GAPS",
]

#: ``Estimate.reason`` values. ``""`` means the estimate can be acted on.
REASON_OK = ""
REASON_POOR_QUALITY = "poor_signal_quality"
#: the quality gate abstained and gaps (lost samples, ``n/a`` in BIDS) took at least a quarter of the window
REASON_GAPS = "signal_gaps"
REASON_UNCERTAIN = "uncertain"
REASON_ATYPICAL = "atypical_input"
REASON_BASELINE = "collecting_baseline"


@dataclass(frozen=True)
class Estimate:
    """A calibrated state estimate for the window ending at ``t_end``.

    Attributes
    ----------
    t_end
        End of the feature window (seconds on the recording clock).
    probability
        Calibrated probability of the positive state (stress/arousal or cybersickness).
    lower, upper
        Spread of the calibrated probability across the models fitted on the internal cross-fitting folds
        (a model-uncertainty band, not a coverage guarantee).
    abstained
        ``True`` when the estimate must not drive any decision (see ``reason``).
    reason
        ``""`` when usable; otherwise ``"poor_signal_quality"`` (quality gate), ``"uncertain"`` (the conformal
        prediction set holds both classes), ``"atypical_input"`` (the conformal set is empty) or
        ``"collecting_baseline"`` (no personal baseline yet for a baseline-normalized model).
    contributions
        Additive feature contributions on the log-odds scale of the uncalibrated model; with ``"bias"`` they sum
        to the model's log-odds (exact for logistic regression, TreeSHAP for LightGBM).
    model
        Name of the model that produced the estimate.
    """

    t_end: float
    probability: float
    lower: float
    upper: float
    abstained: bool
    reason: str
    contributions: dict[str, float] = field(default_factory=dict)
    model: str = ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)
