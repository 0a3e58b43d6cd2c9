"""Real datasets with real labels: ``get_dataset("stress-predict" | "nurse-stress" | "vr-cybersickness")``.

Each dataset is found under ``--data-dir`` / ``ATTUNEXR_DATA`` / ``../shared/data``; a missing one raises
:class:`~attunexr.errors.DatasetNotFoundError` saying where it comes from and how to download it. A new adapter (a
:class:`Dataset`) becomes available by name through :func:`register`.
"""

from attunexr.io.datasets._nurse_stress import NurseStress
from attunexr.io.datasets._registry import (
    Dataset,
    DatasetCard,
    get_dataset,
    list_datasets,
    load_recordings,
    register,
)
from attunexr.io.datasets._stress_predict import AgreementReport, StressPredict
from attunexr.io.datasets._vr_cybersickness import VRCybersickness
from attunexr.io.datasets._vr_fms_motion import VRFmsMotion

register(StressPredict())
register(VRCybersickness())
register(NurseStress())
register(NurseStress(include_partial=True))
register(VRFmsMotion())

__all__ = [
    "AgreementReport",
    "Dataset",
    "DatasetCard",
    "NurseStress",
    "StressPredict",
    "VRCybersickness",
    "VRFmsMotion",
    "get_dataset",
    "list_datasets",
    "load_recordings",
    "register",
]
