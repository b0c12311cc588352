"""Safe reading of checkpoint files: tensors only, never code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError


def load_weights_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors naming the file.

    ``weights_only`` refuses pickles that would import or call arbitrary code, so a crafted
    checkpoint cannot run anything on the user's machine.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
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
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({first_line})") from None
