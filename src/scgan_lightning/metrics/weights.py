"""Backbone weights by path, never by download: the user's file or torch's hub cache copy."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import UserError


def _hub_checkpoint(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def resolve_weights(weights_path: str | os.PathLike | None, filename: str, what: str) -> Path:
    """The user's weights file, else torch's hub cache copy; a UserError names what is missing."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: no such file (expected the {what} weights {filename})")
        return path
    cached = _hub_checkpoint(filename)
    if not cached.is_file():
        raise UserError(
            f"{what} weights not found: set weights_path to your copy of {filename} or place "
            f"it at {cached} (nothing is downloaded)"
        )
    return cached
