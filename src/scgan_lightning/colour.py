"""BT.601 colour, the one place its weights are written.

Three uses of the same standard: luma (grey levels for edge and noise measures and the
greyscale content shift), full-range YCbCr (what JPEG codes, and where the explicit
degradation and the spectrum loss work), and the studio-range Y of MATLAB's ``rgb2ycbcr``
that BasicSR's ``test_y_channel`` scores on.
"""

from __future__ import annotations

import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Full-range YCbCr of RGB (JFIF): rows Y, Cb, Cr; Cb and Cr centred on zero.
RGB_TO_YCBCR = (LUMA_WEIGHTS, (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
YCBCR_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))
# MATLAB rgb2ycbcr's Y of RGB in [0, 1]: 219 x LUMA_WEIGHTS, offset 16, so Y spans [16, 235].
STUDIO_Y_WEIGHTS = (65.481, 128.553, 24.966)
STUDIO_Y_OFFSET = 16.0


def luma(images: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB -> (N,1,H,W) BT.601 luma, in the images' own range and dtype."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
    return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def _mix(matrix: tuple, images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(matrix, dtype=images.dtype, device=images.device)
    return torch.einsum("ij,bjhw->bihw", weights, images)


def rgb_to_ycbcr(images: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB -> YCbCr, full range, in the images' own scale (Cb, Cr around 0)."""
    return _mix(RGB_TO_YCBCR, images)


def ycbcr_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_ycbcr`."""
    return _mix(YCBCR_TO_RGB, images)
