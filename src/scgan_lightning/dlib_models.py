"""Where dlib's pretrained face models lie: the ``face-recognition-models`` wheel (the optional
``identity`` extra), read from its folder, never fetched.

Both the identity distance (metrics) and the pose score of the content-gap track (data) use
them, so the lookup lives here, below both rooms.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .errors import UserError

INSTALL_HINT = "pip install 'scgan_lightning[identity]' (dlib-bin, face-recognition-models)"


def models_dir() -> Path:
    """The model folder of ``face_recognition_models``, found without importing it (its
    ``__init__`` needs ``pkg_resources``, which recent setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise UserError(f"dlib's face models are not installed: {INSTALL_HINT}")
    return Path(spec.origin).parent / "models"


def import_dlib(purpose: str) -> Any:
    """``dlib``, or a one-line error saying what needed it and how to install it."""
    try:
        import dlib
    except ImportError:
        raise UserError(f"{purpose} needs dlib: {INSTALL_HINT}") from None
    return dlib


def model_file(name: str, folder: str | Path | None = None) -> Path:
    """One model file of that folder (or of ``folder``), checked to exist."""
    path = (Path(folder) if folder else models_dir()) / name
    if not path.is_file():
        raise UserError(f"{path} not found ({INSTALL_HINT})")
    return path
