"""Safe reading of checkpoint files: tensors only, never code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from .atomic import human_size
from .errors import CheckpointError


def load_weights_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors naming the file.

    ``weights_only`` refuses pickles that would import or call arbitrary code, so a crafted
    checkpoint cannot run anything on the user's machine.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Unsupported global" in str(err) or "GLOBAL" in str(err):
            raise CheckpointError(
                f"{path}: refused, the file holds pickled objects that would run code "
                "(only plain tensors and containers are loaded, weights_only=True)"
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (cannot be unpickled)") from None
    except Exception as err:  # torch raises many types on foreign bytes (KeyError, ...)
        if _starts_as_zip(path):
            raise CheckpointError(
                f"{path}: truncated or damaged ({human_size(size)}; its zip archive is incomplete, "
                "as a write cut short by a full disk or a kill leaves it)"
            ) from None
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({first_line})") from None


def _starts_as_zip(path: Path) -> bool:
    """torch.save writes a zip archive; one that starts right but will not open was cut short."""
    with path.open("rb") as file:
        return file.read(4) == b"PK\x03\x04"
