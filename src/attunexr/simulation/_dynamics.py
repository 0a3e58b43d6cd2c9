"""The latent state of a virtual patient, one second at a time (vectorised over patients and policies).

Fear rises toward ``gain * max(0, intensity - threshold) * (1 - habituation)`` with time constant ``tau_fear_s``
(exposure above a personal threshold frightens; Foa & Kozak 1986 emotional processing); habituation grows while
fear is present (within-session habituation) and is partly reset by a step up; cybersickness accumulates with time
in VR and recovers in the safe scene. Between sessions the threshold rises with time spent in the therapeutic
window (between-session habituation) and falls after overload for sensitizers (done by the study runner). A SUDS
answer is the latent fear on the 0-100 scale with the person's reporting bias and noise (:func:`suds_report`).
All sizes are ASSUMPTIONS (docs/simulation.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attunexr.simulation._population import Population

__all__ = ["FEAR_FLOOR", "latent_step", "suds_report"]

FloatArray = NDArray[np.float64]

#: anticipatory fear in the VR environment even below threshold (ASSUMPTION)
FEAR_FLOOR = 0.03


def latent_step(fear: FloatArray, hab: FloatArray, sick: FloatArray, intensity: FloatArray, paused: NDArray[np.bool_],
                threshold: FloatArray, pop: Population, z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One second of fear, habituation and cybersickness; ``z`` is a standard-normal draw per patient."""
    target = np.clip(pop.gain * np.maximum(intensity - threshold, 0.0) * (1.0 - hab) + FEAR_FLOOR, 0.0, 1.0)
    fear = np.clip(fear + (target - fear) / pop.tau_fear_s + 0.01 * z, 0.0, 1.0)
    hab = hab + fear * (pop.hab_max - hab) / pop.hab_tau_s
    sick = sick + np.where(paused, -sick / 600.0, pop.sick_susc * (1.0 - sick) / pop.sick_tau_s)
    return fear, hab, sick


def suds_report(fear: FloatArray, pop: Population, u_answer: FloatArray | float,
                u_noise: FloatArray | float) -> tuple[NDArray[np.bool_], FloatArray]:
    """Whether each patient answers a SUDS prompt, and the answer (0-100 in steps of 5).

    ``u_answer`` and ``u_noise`` are uniform(0, 1) draws: a prompt goes unanswered with the person's
    ``unanswered_p``; the answer is ``100 * fear`` plus the person's bias and a uniform reporting error of
    ``±1.7 * suds_noise``, rounded to the 5-point steps patients use.
    """
    answered = np.asarray(u_answer) >= pop.unanswered_p
    raw = 100.0 * fear + pop.suds_bias + pop.suds_noise * (2.0 * np.asarray(u_noise) - 1.0) * 1.7
    return answered, np.clip(np.round(raw / 5.0) * 5.0, 0.0, 100.0)
