"""Measures for real LR faces, which have no ground truth: consistency and sharpness.

Two fidelity measures hold a restorer to its own input. ``consistency_psnr`` compares 4x
average pooling of the output with the input: the released G_DHL target, which also penalises
a restorer for removing blur and noise that the input has. ``lowfreq_consistency_psnr``
compares both after a Gaussian blur, so that only tone, colour and coarse shape count: what a
real-world restorer must keep while it sharpens. Which of them ranks restorers as ground truth
does is measured on the controlled sets (docs/EVALUATION.md), not assumed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..colour import luma
from ..filters import gaussian_lowpass
from ..imaging import quantize

LOWPASS_SIGMA = 1.0  # LR pixels: keeps structure coarser than about 4 LR pixels


def _psnr_255(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10.0 * torch.log10(255.0**2 / mse)).double()


def consistency_psnr(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Per-image PSNR (0..255) between ``scale``x average pooling of ``sr`` and its input ``lr``.

    Both batches are in [-1, 1]; each is scored as 8-bit pixels.
    """
    return _psnr_255(F.avg_pool2d(quantize(sr).float(), scale), quantize(lr).float())


def lowfreq_consistency_psnr(
    sr: torch.Tensor, lr: torch.Tensor, scale: int, sigma: float = LOWPASS_SIGMA
) -> torch.Tensor:
    """Per-image PSNR (0..255) between ``sr`` shrunk to the LR size (average pooling) and its
    input ``lr``, both blurred by a Gaussian of ``sigma`` LR pixels: tone and colour kept."""
    pooled = F.avg_pool2d(quantize(sr).float(), scale)
    return _psnr_255(gaussian_lowpass(pooled, sigma), gaussian_lowpass(quantize(lr).float(), sigma))


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean |dx| + |dy| of the grey (BT.601 luma, 0..255) image: how much edge it has."""
    grey = luma(quantize(images).float())[:, 0]
    dx = (grey[:, :, 1:] - grey[:, :, :-1]).abs().flatten(1).mean(1)
    dy = (grey[:, 1:, :] - grey[:, :-1, :]).abs().flatten(1).mean(1)
    return (dx + dy).double()
