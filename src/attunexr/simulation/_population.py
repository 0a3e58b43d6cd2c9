"""Virtual patients: the parameters of a population, drawn once so every policy meets the same people.

Every parameter is either calibrated on real data (marked CALIBRATED, see :mod:`._calibration`) or an ASSUMPTION
documented in ``docs/simulation.md``. Nothing here is clinical evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError
from attunexr.simulation._calibration import Calibration, load_calibration

__all__ = ["FEAR_AT_LAB_STRESS", "Population", "draw_population"]

FloatArray = NDArray[np.float64]

#: ASSUMPTION: latent fear (0-1) that corresponds to the Stress-Predict lab stressors (Stroop, interview); the
#: calibrated physiological responses are scaled by ``fear / FEAR_AT_LAB_STRESS``.
FEAR_AT_LAB_STRESS = 0.25


@dataclass
class Population:
    """Per-patient parameters, one array element per virtual patient.

    Fear dynamics: ``threshold`` (hierarchy intensity 0-1 above which fear rises), ``gain`` (fear per unit intensity
    above threshold), ``tau_fear_s`` (rise time), ``hab_tau_s``/``hab_max`` (within-session habituation),
    ``hab_carry`` (share of habituation kept after a step up), ``learn_rate`` (between-session habituation per session
    spent in the therapeutic window), ``sensitizer``/``sens_step`` (threshold falls after overload).
    Cybersickness: ``sick_susc``, ``sick_tau_s``. Dropout: ``dropout_base``. SUDS: ``suds_bias``, ``suds_noise``,
    ``unanswered_p``. Physiology: ``hr0`` (bpm), ``dhr`` (bpm at lab-stress fear), ``lscl0`` (log uS), ``dlscl``,
    ``rmssd0`` (ms), ``resp0`` (breaths/min), ``scr0`` (SCR/min), ``head0`` (deg/s).
    """

    threshold: FloatArray
    gain: FloatArray
    tau_fear_s: FloatArray
    hab_tau_s: FloatArray
    hab_max: FloatArray
    hab_carry: FloatArray
    learn_rate: FloatArray
    sensitizer: NDArray[np.bool_]
    sens_step: FloatArray
    sick_susc: FloatArray
    sick_tau_s: FloatArray
    dropout_base: FloatArray
    suds_bias: FloatArray
    suds_noise: FloatArray
    unanswered_p: FloatArray
    hr0: FloatArray
    dhr: FloatArray
    lscl0: FloatArray
    dlscl: FloatArray
    rmssd0: FloatArray
    resp0: FloatArray
    scr0: FloatArray
    head0: FloatArray

    @property
    def n(self) -> int:
        return int(self.threshold.shape[0])

    def subset(self, idx: NDArray[np.int64] | slice) -> Population:
        return Population(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def draw_population(n: int, seed: int = 0, calibration: Calibration | None = None) -> Population:
    """Draw ``n`` virtual patients (reproducible for a given ``seed``)."""
    if n < 1:
        raise ConfigurationError(f"need at least one patient, got {n}")
    cal = calibration or load_calibration()
    rng = np.random.default_rng(seed)
    u = rng.uniform
    return Population(
        threshold=u(0.05, 0.45, n),  # ASSUMPTION
        gain=np.exp(rng.normal(np.log(1.5), 0.25, n)),  # ASSUMPTION
        tau_fear_s=u(10.0, 25.0, n),  # ASSUMPTION (subjective fear rises within tens of seconds)
        hab_tau_s=np.exp(rng.normal(np.log(500.0), 0.4, n)),  # ASSUMPTION
        hab_max=u(0.3, 0.6, n),  # ASSUMPTION
        hab_carry=u(0.4, 0.7, n),  # ASSUMPTION
        learn_rate=u(0.05, 0.15, n),  # ASSUMPTION
        sensitizer=rng.random(n) < 0.15,  # ASSUMPTION: 15 % sensitize after overload
        sens_step=u(0.03, 0.08, n),  # ASSUMPTION
        sick_susc=np.exp(rng.normal(np.log(0.5), 0.6, n)),  # ASSUMPTION (~1 in 5 sick within 20 min)
        sick_tau_s=np.full(n, 1500.0),  # ASSUMPTION
        dropout_base=np.full(n, 0.02),  # ASSUMPTION per session
        suds_bias=rng.normal(0.0, 5.0, n),  # ASSUMPTION
        suds_noise=u(4.0, 10.0, n),  # ASSUMPTION
        unanswered_p=np.full(n, 0.03),  # ASSUMPTION
        hr0=rng.normal(cal.hr_rest_mean, cal.hr_rest_sd, n).clip(50, 120),  # CALIBRATED
        dhr=rng.normal(cal.dhr_task_mean, cal.dhr_task_sd, n),  # CALIBRATED
        lscl0=rng.normal(cal.log_scl_rest_mean, cal.log_scl_rest_sd, n),  # CALIBRATED
        dlscl=rng.normal(cal.dlog_scl_task_mean, cal.dlog_scl_task_sd, n),  # CALIBRATED
        rmssd0=np.exp(rng.normal(np.log(40.0), 0.4, n)),  # ASSUMPTION (adult resting RMSSD, Nunan 2010)
        resp0=u(12.0, 18.0, n),  # ASSUMPTION (adult resting breathing rate)
        scr0=u(1.0, 4.0, n),  # ASSUMPTION (non-specific SCRs per minute at rest, Boucsein 2012)
        head0=u(10.0, 30.0, n),  # ASSUMPTION (head angular speed in VR, deg/s)
    )
