"""An explicit degradation model for G_DHL: blur, downscale, noise and JPEG with learned laws.

The released G_DHL is an encoder to 4x4 and back: at the widths a CPU trains it neither
keeps a face's content nor reaches the pixel level where noise and JPEG live, so the GAN
that should teach it the LR domain moves its colours instead (docs/BENCHMARK.md, "The
recipe"). This module gives G_DHL the form a camera degradation has, with every parameter
learned by the same adversarial loss from unpaired LR faces:

- a blur: an anisotropic Gaussian (two sigmas and an angle, in HR pixels) for luma and one
  for chroma, convolved with the 4x4 box, so that at sigma -> 0 it is exactly avgpool, the
  released G_DHL target;
- additive noise per YCbCr channel, its level log-normal across images (a learned mean and
  spread: real LR sets mix clean and noisy faces);
- JPEG (``diff_jpeg``) at a quality drawn per image from a learned logit-normal law.

The released network then adds a residual (its last convolution starts at zero), for what
this form cannot express.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..colour import rgb_to_ycbcr, ycbcr_to_rgb
from .degrader import Degrader
from .diff_jpeg import diff_jpeg

_MIN_QUALITY, _QUALITY_RANGE = 5.0, 90.0


def _gaussian(log_sigmas: torch.Tensor, angle: torch.Tensor, radius: int) -> torch.Tensor:
    axis = torch.arange(-radius, radius + 1, dtype=log_sigmas.dtype, device=log_sigmas.device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    cos, sin = torch.cos(angle), torch.sin(angle)
    u, v = cos * x + sin * y, -sin * x + cos * y
    sx, sy = torch.exp(log_sigmas).unbind(-1)
    kernel = torch.exp(-(u**2) / (2 * sx**2) - v**2 / (2 * sy**2))
    return kernel / kernel.sum()


class ExplicitDegradation(nn.Module):
    """HR (B,3,S,S) in [-1, 1] -> LR (B,3,S/scale,S/scale): blur+box, noise, JPEG."""

    def __init__(
        self,
        scale: int = 4,
        radius: int = 7,
        blur_sigma: float = 0.3,
        noise_sigma: float = 2.0,
        jpeg_quality: float | None = 90.0,
    ) -> None:
        super().__init__()
        self.scale, self.radius = scale, radius
        self.blur_log_sigma = nn.Parameter(torch.full((2, 2), math.log(blur_sigma)))
        self.blur_angle = nn.Parameter(torch.zeros(2))
        # noise_sigma in grey levels (0-255); the tensors' [-1, 1] spans 255 levels in 2.
        self.noise_log_sigma = nn.Parameter(torch.full((3,), math.log(noise_sigma * 2 / 255)))
        self.noise_log_spread = nn.Parameter(torch.full((3,), -1.0))
        self.jpeg = jpeg_quality is not None
        p = ((jpeg_quality or 90.0) - _MIN_QUALITY) / _QUALITY_RANGE
        self.quality_logit = nn.Parameter(torch.tensor(math.log(p / (1 - p))))
        self.quality_log_spread = nn.Parameter(torch.tensor(-1.0))

    def kernels(self) -> torch.Tensor:
        """(3,1,K,K): the luma kernel, then the chroma kernel twice; each sums to 1."""
        box = torch.ones(1, 1, self.scale, self.scale, device=self.blur_angle.device)
        box = box / self.scale**2
        gauss = torch.stack(
            [_gaussian(self.blur_log_sigma[i], self.blur_angle[i], self.radius) for i in (0, 1, 1)]
        )[:, None]
        low, high = self.scale // 2, (self.scale - 1) // 2
        return F.conv2d(F.pad(gauss, (low, high, low, high)), box.to(gauss))

    def sample_quality(self, n: int, device: torch.device) -> torch.Tensor:
        noise = torch.randn(n, device=device)
        logit = self.quality_logit + torch.exp(self.quality_log_spread) * noise
        return _MIN_QUALITY + _QUALITY_RANGE * torch.sigmoid(logit)

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        ycc = rgb_to_ycbcr(hr)
        kernel = self.kernels().to(hr)
        # Output pixel i then averages HR pixels [scale*i, scale*i + scale) at zero blur.
        before = self.radius + (self.scale - 1) // 2 - self.scale // 2
        after = kernel.shape[-1] - self.scale - before
        pad = (before, after, before, after)
        low = F.conv2d(F.pad(ycc, pad, mode="reflect"), kernel, stride=self.scale, groups=3)
        spread = torch.randn(hr.shape[0], 3, 1, 1, device=hr.device, dtype=hr.dtype)
        sigma = torch.exp(
            self.noise_log_sigma.view(1, 3, 1, 1)
            + torch.exp(self.noise_log_spread).view(1, 3, 1, 1) * spread
        )
        low = low + sigma * torch.randn_like(low)
        rgb = ycbcr_to_rgb(low)
        if self.jpeg:
            rgb = diff_jpeg(rgb, self.sample_quality(hr.shape[0], hr.device))
        return rgb.clamp(-1.0, 1.0)

    def summary(self) -> dict[str, float]:
        """The learned laws in readable units, for logs and the model card."""
        sig = torch.exp(self.blur_log_sigma.detach())
        noise = torch.exp(self.noise_log_sigma.detach()) * 255 / 2
        out = {
            "blur_luma_sigma_x": float(sig[0, 0]),
            "blur_luma_sigma_y": float(sig[0, 1]),
            "blur_chroma_sigma_x": float(sig[1, 0]),
            "blur_chroma_sigma_y": float(sig[1, 1]),
            "noise_y": float(noise[0]),
            "noise_cb": float(noise[1]),
            "noise_cr": float(noise[2]),
        }
        if self.jpeg:
            q = _MIN_QUALITY + _QUALITY_RANGE * torch.sigmoid(self.quality_logit.detach())
            out["jpeg_quality"] = float(q)
        return out


class ExplicitDegrader(nn.Module):
    """G_DHL (or G_DSL) as :class:`ExplicitDegradation` plus the released network's output as
    a residual: ``(hr, z) -> LR``, the released degrader's interface."""

    def __init__(
        self,
        width: float,
        noise_dim: int,
        image_size: int,
        scale: int = 4,
        residual: bool = True,
        **explicit: float | None,
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.explicit = ExplicitDegradation(scale, **explicit)
        self.residual = Degrader(width, noise_dim, image_size) if residual else None
        if self.residual is not None:
            last = self.residual.tail[-2]
            nn.init.zeros_(last.weight)  # starts as the explicit model alone

    def forward(self, image: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.explicit(image)
        if self.residual is not None:
            out = out + self.residual(image, z)
        return out.clamp(-1.0, 1.0)
