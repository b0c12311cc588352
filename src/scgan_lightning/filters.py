"""The Gaussian low band of images, shared by training losses and real-LR measures."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_lowpass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (2 sigma each side, reflect padding) of (B,C,H,W)."""
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
