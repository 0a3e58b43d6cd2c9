"""Personal calibration of estimated arousal against the patient's own SUDS answers.

People differ several-fold in how strongly heart rate and skin conductance respond to the same fear (Stress-Predict:
task responses vary more between people than their mean). A population model therefore places the same probability
at different distress levels for different people. At every SUDS prompt answered while a usable estimate exists,
attunexr adds the pair (log-odds of the estimate, SUDS) to a per-patient ridge regression
``SUDS = a + c * logit(p)`` shrunk toward the population mapping (a0, c0). The calibrated arousal is
``(a + c * logit(p)) / 100`` in [0, 1]: a SUDS-equivalent scale on which a therapeutic window can be set. Only
observed data is used (estimates and answers), never any inner state. Arrays hold one patient per element.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError

__all__ = ["PersonalCalibration"]

FloatArray = NDArray[np.float64]


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


@dataclass
class PersonalCalibration:
    """Per-patient mapping from estimated probability to a SUDS-equivalent arousal scale.

    Parameters
    ----------
    a0, c0
        Population mapping ``SUDS = a0 + c0 * logit(p)``.
    shape
        Shape of the patient arrays.
    prior_weight_a, prior_weight_c
        Ridge weights pulling ``a`` and ``c`` toward the population values (in answers' worth).
    c_range
        Allowed slope range (SUDS points per log-odds unit).
    """

    a0: float
    c0: float
    shape: tuple[int, ...] = (1,)
    prior_weight_a: float = 2.0
    prior_weight_c: float = 2.0
    c_range: tuple[float, float] = (5.0, 400.0)
    n: FloatArray = field(init=False, repr=False)
    sx: FloatArray = field(init=False, repr=False)
    sy: FloatArray = field(init=False, repr=False)
    sxx: FloatArray = field(init=False, repr=False)
    sxy: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.c0 > 0:
            raise ConfigurationError(f"population slope c0 must be positive, got {self.c0}")
        for name in ("n", "sx", "sy", "sxx", "sxy"):
            setattr(self, name, np.zeros(self.shape))

    def update(self, probability: FloatArray | float, suds: FloatArray | float,
               mask: NDArray[np.bool_] | bool = True) -> None:
        """Add (estimate, SUDS) pairs where ``mask`` is true and both are finite."""
        p = np.broadcast_to(np.asarray(probability, dtype=np.float64), self.shape)
        y = np.broadcast_to(np.asarray(suds, dtype=np.float64), self.shape)
        m = np.broadcast_to(np.asarray(mask, dtype=bool), self.shape) & np.isfinite(p) & np.isfinite(y)
        x = np.where(m, _logit(np.nan_to_num(p, nan=0.5)), 0.0)
        y = np.where(m, y, 0.0)
        self.n += m
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y

    def params(self) -> tuple[FloatArray, FloatArray]:
        """Ridge estimates of ``a`` and ``c`` per patient."""
        la, lc = self.prior_weight_a, self.prior_weight_c
        a11 = self.n + la
        a12 = self.sx
        a22 = self.sxx + lc
        b1 = self.sy + la * self.a0
        b2 = self.sxy + lc * self.c0
        det = a11 * a22 - a12 * a12
        a = (b1 * a22 - a12 * b2) / det
        c = (a11 * b2 - a12 * b1) / det
        c_clipped = np.clip(c, *self.c_range)
        # keep the fit through the answers' centre when the slope is clipped
        a = np.where(c_clipped != c, (b1 - a12 * c_clipped) / a11, a)
        return a, c_clipped

    def transform(self, probability: FloatArray | float) -> FloatArray:
        """Calibrated arousal in [0, 1] (SUDS-equivalent / 100); NaN stays NaN."""
        p = np.asarray(probability, dtype=np.float64)
        a, c = self.params()
        out = np.clip((a + c * _logit(np.nan_to_num(p, nan=0.5))) / 100.0, 0.0, 1.0)
        return np.where(np.isfinite(p), out, np.nan)
