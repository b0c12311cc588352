"""Synthetic HR -> LR degradations for validation and evaluation.

Real LR faces have no HR ground truth, so PSNR/SSIM are measured on LR images made from HR
ones. ``avgpool`` is the released code's G_DHL target; ``bicubic`` is the usual SR benchmark;
``blur_noise_jpeg`` is a harder, closer-to-real mix. Every kind is deterministic given ``seed``
so validation numbers are comparable across runs.
"""

from __future__ import annotations

import io
import math

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.functional import gaussian_blur

from ..errors import UserError
from ..imaging import to_tensor, to_uint8

DEGRADATIONS = ("avgpool", "bicubic", "blur_noise_jpeg")


def check_kind(kind: str) -> str:
    """Return ``kind`` if it names a degradation; a config typo fails with the choices listed."""
    if kind not in DEGRADATIONS:
        raise UserError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
    return kind


def _bicubic_down(batch: torch.Tensor, scale: int) -> torch.Tensor:
    height, width = batch.shape[-2:]
    small = F.interpolate(
        batch,
        size=(height // scale, width // scale),
        mode="bicubic",
        align_corners=False,
        antialias=True,
    )
    return small.clamp_(-1.0, 1.0)


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return to_tensor(decoded.convert("RGB"))


def _blur_noise_jpeg(
    batch: torch.Tensor,
    scale: int,
    seed: int,
    blur_sigma: float,
    noise_sigma: float,
    jpeg_quality: int,
) -> torch.Tensor:
    if blur_sigma > 0:
        radius = max(1, math.ceil(3 * blur_sigma))
        batch = gaussian_blur(batch, [2 * radius + 1] * 2, [blur_sigma] * 2)
    small = _bicubic_down(batch, scale)
    if noise_sigma > 0:
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(small.shape, generator=generator, dtype=small.dtype)
        # noise_sigma is in 0..255 grey levels; the tensor range [-1, 1] spans 255 levels in 2.
        small = (small + noise * (noise_sigma * 2.0 / 255.0)).clamp_(-1.0, 1.0)
    return torch.stack([_jpeg(image, jpeg_quality) for image in small])


def degrade(
    hr: torch.Tensor | Image.Image,
    kind: str = "avgpool",
    scale: int = 4,
    seed: int = 0,
    *,
    blur_sigma: float = 1.0,
    noise_sigma: float = 5.0,
    jpeg_quality: int = 75,
) -> torch.Tensor:
    """Make an LR image from ``hr`` (RGB PIL, (3,H,W) or (N,3,H,W) tensor in [-1, 1]).

    Returns a tensor in [-1, 1] with the input's batch layout and H/scale x W/scale pixels.
    ``seed`` drives the noise of ``blur_noise_jpeg`` (one generator for a whole batch), so the
    same input and seed always give the same output. ``noise_sigma`` is in grey levels (0..255).
    """
    check_kind(kind)
    tensor = to_tensor(hr) if isinstance(hr, Image.Image) else hr
    if tensor.dim() not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(
            f"expected an RGB image (3,H,W) or batch (N,3,H,W), got {tuple(tensor.shape)}"
        )
    height, width = tensor.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"image size {width}x{height} is not divisible by scale {scale}")
    batch = tensor.unsqueeze(0) if tensor.dim() == 3 else tensor
    batch = batch.detach().float()
    if kind == "avgpool":
        low = F.avg_pool2d(batch, scale)
    elif kind == "bicubic":
        low = _bicubic_down(batch, scale)
    else:
        # JPEG coding runs in PIL, hence on the CPU; the result goes back to the input's device.
        low = _blur_noise_jpeg(batch.cpu(), scale, seed, blur_sigma, noise_sigma, jpeg_quality)
        low = low.to(batch.device)
    return low[0] if tensor.dim() == 3 else low
