"""Measures for real LR faces, which have no ground truth: consistency and sharpness."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..imaging import quantize


def consistency_psnr(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Per-image PSNR (0..255) between ``scale``x average pooling of ``sr`` and its input ``lr``.

    Real LR faces have no HR; what a restorer can be held to is that shrinking its output
    gives back its input. Both batches are in [-1, 1]; each is scored as 8-bit pixels.
    """
    pooled = F.avg_pool2d(quantize(sr).float(), scale)
    diff = pooled - quantize(lr).float()
    mse = diff.pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10.0 * torch.log10(255.0**2 / mse)).double()


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean |dx| + |dy| of the grey (BT.601 luma, 0..255) image: how much edge it has."""
    pixels = quantize(images).float()
    weights = torch.tensor([0.299, 0.587, 0.114]).to(pixels).view(1, 3, 1, 1)
    grey = (pixels * weights).sum(1)
    dx = (grey[:, :, 1:] - grey[:, :, :-1]).abs().flatten(1).mean(1)
    dy = (grey[:, 1:, :] - grey[:, :-1, :]).abs().flatten(1).mean(1)
    return (dx + dy).double()
