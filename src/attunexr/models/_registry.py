"""The model registry: models shipped with attunexr (``src/attunexr/models/registry/<name>/``) and model folders.

A model folder holds ``model.joblib`` (the fitted detector; a pickle: load only models you trust),
``card.json`` and ``card.html``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import joblib

from attunexr.errors import ModelError
from attunexr.models._detector import _Detector

__all__ = ["REGISTRY_DIR", "list_models", "load_card", "load_model", "model_dir", "save_model"]

logger = logging.getLogger(__name__)

REGISTRY_DIR = Path(__file__).parent / "registry"
MODEL_FILE = "model.joblib"
CARD_JSON = "card.json"
CARD_HTML = "card.html"


def list_models() -> list[str]:
    """Names of the models shipped in the registry."""
    if not REGISTRY_DIR.is_dir():
        return []
    return sorted(p.name for p in REGISTRY_DIR.iterdir() if (p / MODEL_FILE).is_file())


def model_dir(name_or_path: str | Path) -> Path:
    """The folder of a registered model name or of a model folder path."""
    path = Path(name_or_path)
    if (path / MODEL_FILE).is_file():
        return path
    if path.is_file() and path.name == MODEL_FILE:
        return path.parent
    reg = REGISTRY_DIR / str(name_or_path)
    if "/" not in str(name_or_path) and (reg / MODEL_FILE).is_file():
        return reg
    known = ", ".join(list_models()) or "none"
    raise ModelError(
        f"no model {str(name_or_path)!r}: not a registered name (registered: {known}) and not a folder holding "
        f"{MODEL_FILE}; train one with `attunexr train --out DIR` or pass a registered name"
    )


def load_model(name_or_path: str | Path) -> _Detector:
    """A fitted detector: ``load_model("stress")`` (registry) or ``load_model("path/to/model_dir")``."""
    folder = model_dir(name_or_path)
    try:
        det = joblib.load(folder / MODEL_FILE)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise ModelError(f"{folder / MODEL_FILE}: cannot load the model ({err}); retrain it") from err
    if not isinstance(det, _Detector):
        raise ModelError(f"{folder / MODEL_FILE}: holds a {type(det).__name__}, not an attunexr detector")
    det.reset()
    return det


def load_card(name_or_path: str | Path) -> dict[str, Any]:
    """The model card (JSON) of a registered name or model folder."""
    path = model_dir(name_or_path) / CARD_JSON
    if not path.is_file():
        raise ModelError(f"{path}: model card missing")
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def save_model(det: _Detector, folder: str | Path, card: dict[str, Any], card_html: str) -> Path:
    """Write ``model.joblib``, ``card.json`` and ``card.html`` into ``folder`` (each file atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    det.reset()
    det._fast = None
    for name, writer in (
        (MODEL_FILE, lambda p: joblib.dump(det, p, compress=3)),
        (CARD_JSON, lambda p: p.write_text(json.dumps(card, indent=2, default=_json_default))),
        (CARD_HTML, lambda p: p.write_text(card_html)),
    ):
        tmp = folder / f".{name}.tmp{os.getpid()}"
        writer(tmp)  # type: ignore[no-untyped-call]
        os.replace(tmp, folder / name)
    logger.info("saved model %s to %s", det.model_name, folder)
    return folder


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
