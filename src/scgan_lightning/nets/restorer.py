"""G_RLS: the shared restoration generator, 16x16 real/synthetic LR -> 64x64 face."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import GBlock
from .width import scaled


class UpsampleProject(nn.Module):
    """Bilinear x2 (align_corners=True) -> BatchNorm -> ReLU -> 1x1 transposed conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.project = nn.ConvTranspose2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.project(F.relu(self.norm(x)))


class Restorer(nn.Module):
    """Two residual stages, each followed by a x2 upsampling, then a small conv tail.

    ``width`` scales every channel count; 1.0 reproduces the released network.
    """

    def __init__(self, width: float = 1.0, stage1_blocks: int = 12, stage2_blocks: int = 3):
        super().__init__()
        c1, c2, c3 = scaled(256, width), scaled(128, width), scaled(96, width)
        self.head = nn.Conv2d(3, c1, 3, padding=1, bias=False)
        self.stage1 = nn.Sequential(*[GBlock(c1, c1) for _ in range(stage1_blocks)])
        self.up1 = UpsampleProject(c1)
        self.stage2 = nn.Sequential(
            GBlock(c1, c2), *[GBlock(c2, c2) for _ in range(stage2_blocks - 1)]
        )
        self.stage2_skip = nn.Conv2d(c1, c2, 1)
        self.up2 = UpsampleProject(c2)
        self.tail = nn.Sequential(
            nn.Conv2d(c2, c3, 3, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(c3, c3, 1),
            nn.ReLU(),
            nn.Conv2d(c3, 3, 1),
            nn.Tanh(),
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``lr`` (B,3,h,w) in [-1, 1] -> (B,3,4h,4w) in [-1, 1]."""
        x = self.head(lr)
        # relu(x) on the skip path: the first block of the released stage rectifies its input
        # in place, and that tensor is the same one the skip adds.
        x = self.up1(F.relu(x) + self.stage1(x))
        x = self.up2(self.stage2(x) + self.stage2_skip(F.relu(x)))
        return self.tail(x)
