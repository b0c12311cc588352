"""Data: unpaired/paired face datasets, degradations, the face-set builder, the DataModule.

Names are imported on first use: the DataModule pulls in Lightning (seconds of import time),
which ``predict`` and ``evaluate`` never need.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FaceDataModule": ".datamodule",
    "PairedSyntheticDataset": ".datasets",
    "UnpairedFaceDataset": ".datasets",
    "degrade": ".degradations",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
