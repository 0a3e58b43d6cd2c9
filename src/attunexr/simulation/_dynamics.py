"""The latent state of a virtual patient, one second at a time (vectorised over patients and policies).

Fear rises toward ``gain * max(0, intensity - threshold) * (1 - habituation)`` with time constant ``tau_fear_s``
(exposure above a personal threshold frightens; Foa & Kozak 1986 emotional processing); habituation grows while
fear is present (within-session habituation) and is partly reset by a step up; cybersickness accumulates with time
in VR and recovers in the safe scene. Between sessions the threshold rises with time spent in the therapeutic
window (between-session habituation) and falls after overload for sensitizers (done by the study runner).
All sizes are ASSUMPTIONS (docs/simulation.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attunexr.simulation._population import Population

__all__ = ["FEAR_FLOOR", "latent_step"]

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
