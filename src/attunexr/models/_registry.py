"""The model registry: models shipped with attunexr (``src/attunexr/models/registry/<name>/``) and model folders.

A model folder holds ``model.joblib`` (the fitted detector; a pickle: load only models you trust),
``card.json`` and ``card.html``.

:func:`load_model` takes a registered name or a folder path, for the command line and scripts run by the person who
owns the files. Anything that takes a model name from someone else (the web app's session plans) uses
:func:`load_named_model`: a name matching :data:`MODEL_NAME_PATTERN` (no dots, no slashes), looked up in the registry
and then in one folder the operator configured, never a path.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import joblib

from attunexr.errors import ModelError
from attunexr.models._detector import _Detector

__all__ = [
    "MODEL_NAME_PATTERN",
    "REGISTRY_DIR",
    "available_models",
    "list_models",
    "load_card",
    "load_model",
    "load_named_model",
    "model_dir",
    "named_model_dir",
    "save_model",
]

logger = logging.getLogger(__name__)

REGISTRY_DIR = Path(__file__).parent / "registry"
MODEL_FILE = "model.joblib"
CARD_JSON = "card.json"
CARD_HTML = "card.html"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_NAME = re.compile(MODEL_NAME_PATTERN)


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


def available_models(models_dir: str | Path | None = None) -> list[str]:
    """Names :func:`load_named_model` accepts: the registry's, then those in ``models_dir`` (operator folder)."""
    names = list_models()
    if models_dir is not None and Path(models_dir).is_dir():
        names += sorted(p.name for p in Path(models_dir).iterdir()
                        if _NAME.match(p.name) and p.name not in names and (p / MODEL_FILE).is_file())
    return names


def named_model_dir(name: str, models_dir: str | Path | None = None) -> Path:
    """The folder of the model called ``name``: in the registry, else directly inside ``models_dir``.

    ``name`` is a name, never a path: it must match :data:`MODEL_NAME_PATTERN` (letters, digits, ``_`` and ``-``;
    no dots or slashes), so it cannot leave those two folders.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"model name {name!r} is not a name: use letters, digits, '_' and '-' only (at most 64), "
                         "a model folder name")
    for base in (REGISTRY_DIR, Path(models_dir) if models_dir is not None else None):
        if base is not None and (base / name / MODEL_FILE).is_file():
            return base / name
    where = "the registry" + (f" or {models_dir}" if models_dir is not None else "")
    raise ModelError(f"no model named {name!r} in {where}; available: "
                     f"{', '.join(available_models(models_dir)) or 'none'}")


def load_named_model(name: str, models_dir: str | Path | None = None) -> _Detector:
    """The fitted detector called ``name`` from the registry or the operator's ``models_dir`` (never a path)."""
    return _load(named_model_dir(name, models_dir))


def load_model(name_or_path: str | Path) -> _Detector:
    """A fitted detector: ``load_model("stress")`` (registry) or ``load_model("path/to/model_dir")``.

    Unpickling runs code from the file: pass only paths you trust, never a value from a request (use
    :func:`load_named_model` there)."""
    return _load(model_dir(name_or_path))


def _load(folder: Path) -> _Detector:
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
