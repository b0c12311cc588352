"""D_L1/D_L2 (16x16) and D_H1/D_H2 (64x64): spectral-normalised residual critics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DBlock
from .spectral_norm import SNLinear
from .width import scaled

_OUT_CHANNELS = (128, 128, 256, 256, 512, 512)
_FINAL_SIZE = 4


class Discriminator(nn.Module):
    """Six DBlocks down to 4x4, then two SN linear layers to one hinge score per image."""

    def __init__(self, image_size: int, width: float = 1.0, released_backward: bool = True):
        super().__init__()
        downsamples = 0
        while image_size >> downsamples > _FINAL_SIZE:
            downsamples += 1
        if image_size != _FINAL_SIZE << downsamples or downsamples > len(_OUT_CHANNELS):
            raise ValueError(f"image_size must be 4 * 2**k (k <= 6), got {image_size}")
        self.image_size = image_size
        channels = [scaled(c, width) for c in _OUT_CHANNELS]
        first_down = len(channels) - downsamples
        blocks, cin = [], 3
        for index, cout in enumerate(channels):
            blocks.append(DBlock(cin, cout, index >= first_down, released_backward))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc1 = SNLinear(cin * _FINAL_SIZE * _FINAL_SIZE, channels[-1], released_backward)
        self.fc2 = SNLinear(channels[-1], 1, released_backward)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (B,3,S,S) -> scores (B,1)."""
        h = self.blocks(image).flatten(1)
        return self.fc2(F.relu(self.fc1(h)))
