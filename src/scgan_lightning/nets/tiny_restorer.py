"""A second restorer architecture: small, sub-pixel, for fast CPU runs and config tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinyRestorer(nn.Module):
    """ESPCN-style: three convolutions at the LR resolution, then one pixel shuffle by
    ``scale`` to the HR face. About 14k parameters at 32 channels against G_RLS's 15M: a
    restorer that trains in seconds, not one that matches G_RLS."""

    def __init__(self, channels: int = 32, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 5, padding=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels // 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels // 2, 3 * scale * scale, 3, padding=1),
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``lr`` (B,3,h,w) in [-1, 1] -> (B,3,scale*h,scale*w) in [-1, 1]."""
        return torch.tanh(F.pixel_shuffle(self.body(lr), self.scale))
