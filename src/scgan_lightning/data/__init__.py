"""Data: face datasets, degradation chains, the face-set builders, the DataModules.

Names are imported on first use: the DataModule pulls in Lightning (seconds of import time),
which ``predict`` and ``evaluate`` never need.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ControlledFaceDataModule": ".datamodule",
    "FaceDataModule": ".datamodule",
    "PairedFolderDataset": ".datasets",
    "PairedSyntheticDataset": ".datasets",
    "UnpairedFaceDataset": ".datasets",
    "build_controlled_set": ".controlled",
    "load_degradation": ".degradation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
