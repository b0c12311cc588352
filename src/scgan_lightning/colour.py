"""BT.601 colour: the luma weights JPEG, PSNR-on-Y and the greyscale content shift share."""

from __future__ import annotations

import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luma(images: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB -> (N,1,H,W) BT.601 luma, in the images' own range and dtype."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
    return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
