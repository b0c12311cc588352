"""G_DHL / G_DSL: the degradation generator, HR (+ noise) -> LR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import GBlock
from .width import scaled

NOISE_DIM = 64


class Degrader(nn.Module):
    """Maps a 64x64 face and a noise vector to a 16x16 degraded face.

    Four downsampling stages (64 -> 4 px) then two pixel-shuffle stages (4 -> 16 px).
    """

    def __init__(self, width: float = 1.0, noise_dim: int = NOISE_DIM, image_size: int = 64):
        super().__init__()
        self.image_size = image_size
        self.noise_dim = noise_dim
        down_channels = [scaled(c, width) for c in (96, 96, 128, 128, 256, 256)]
        # The deepest width feeds two x2 pixel shuffles, so it must divide by 16.
        deepest = scaled(512, width, multiple=16)
        down_channels += [deepest, deepest]
        up1, up2 = deepest // 4, deepest // 16

        self.noise_fc = nn.Linear(noise_dim, image_size * image_size)
        self.head = nn.Conv2d(4, down_channels[0], 3, padding=1, bias=False)
        cin = down_channels[0]
        blocks = []
        for index, cout in enumerate(down_channels):
            blocks.append(GBlock(cin, cout, down=index % 2 == 0))
            cin = cout
        self.down_blocks = nn.Sequential(*blocks)
        self.up_blocks1 = nn.Sequential(GBlock(up1, up1), GBlock(up1, up1))
        self.up_blocks2 = nn.Sequential(GBlock(up2, up2), GBlock(up2, up2))
        self.tail = nn.Sequential(
            nn.Conv2d(up2, scaled(8, width), 3, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(scaled(8, width), 3, 3, padding=1, bias=False),
            nn.Tanh(),
        )

    def forward(self, image: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``image`` (B,3,S,S) and ``z`` (B,1,noise_dim) or (B,noise_dim) -> (B,3,S/4,S/4)."""
        size = image.shape[-1]
        noise = self.noise_fc(z.reshape(z.shape[0], -1)).reshape(-1, 1, size, size)
        h = self.head(torch.cat([image, noise.to(image.dtype)], dim=1))
        h = self.down_blocks(h)
        h = self.up_blocks1(F.pixel_shuffle(h, 2))
        h = self.up_blocks2(F.pixel_shuffle(h, 2))
        return self.tail(h)
