"""The one device choice and the one size check, shared by data, inference and evaluation."""

from __future__ import annotations

import torch

from .errors import UserError


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` picks CUDA when present; asking for a GPU that is not there is a user error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(
            f"device={name!r} is not a torch device (auto, cpu, cuda, cuda:1)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA GPU is available; use device=cpu or auto")
    return device


def check_scale(hr_size: int, scale: int, key: str = "hr_size") -> int:
    """The model's input side for output side ``hr_size``; it must divide by the scale."""
    if scale < 1 or hr_size < scale or hr_size % scale:
        raise UserError(f"{key}={hr_size} must be a positive multiple of the scale {scale}")
    return hr_size // scale
