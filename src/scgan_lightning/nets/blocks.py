"""Residual blocks of the SCGAN generators and discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spectral_norm import SNConv2d


class GBlock(nn.Module):
    """Pre-activation generator block (no normalisation).

    The shortcut takes ``relu(x)``, not ``x``: the released code rectifies its input in place,
    so its identity path sees the rectified tensor. Exact outputs depend on this.
    """

    def __init__(self, cin: int, cout: int, down: bool = False) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1) if down or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(x)
        h = F.relu(self.conv1(a))
        if self.down:
            h = F.avg_pool2d(h, 2)
            a = F.avg_pool2d(a, 2)
        h = self.conv2(h)
        skip = a if self.shortcut is None else self.shortcut(a)
        return h + skip


class DBlock(nn.Module):
    """Spectral-normalised discriminator block; the shortcut takes ``x`` (not rectified)."""

    def __init__(self, cin: int, cout: int, down: bool, released_backward: bool = True) -> None:
        super().__init__()
        self.down = down
        self.conv1 = SNConv2d(cin, cout, 3, bias=False, released_backward=released_backward)
        self.conv2 = SNConv2d(cout, cout, 3, bias=False, released_backward=released_backward)
        needs_projection = down or cin != cout
        self.shortcut = (
            SNConv2d(cin, cout, 1, bias=True, released_backward=released_backward)
            if needs_projection
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(F.relu(x)))
        if self.down:
            h = F.max_pool2d(h, 2)
            x = F.max_pool2d(x, 2)
        h = self.conv2(h)
        skip = x if self.shortcut is None else self.shortcut(x)
        return h + skip
