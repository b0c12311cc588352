"""Image steps of a content shift: how a population of faces differs from the HR set's besides
its degradation (framing in a detector's box, light, colour).

Each is a degradation-chain :class:`Step` that keeps the image's size, drawing every choice from
the generator it is given, so a shifted face is fixed by the set's seed and the file name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...colour import luma
from ..degradation.steps import Spec, Step, check_range, sample


@dataclass(frozen=True)
class Reframe(Step):
    """The face at another proportion and offset of its crop, as a detector's square box
    around a tiny face frames it: ``zoom`` < 1 shrinks the face inside the same crop (the
    border filled by reflection), > 1 crops into it; ``shift`` moves it by that fraction of the
    side, independently in x and y."""

    zoom: Spec = (0.7, 0.95)
    shift: Spec = (-0.08, 0.08)

    def __post_init__(self) -> None:
        check_range("Reframe.zoom", self.zoom, 0.3, 3.0)
        check_range("Reframe.shift", self.shift, -0.5, 0.5)

    def apply(self, image, rng, lr_size):
        zoom = sample(self.zoom, rng)
        dx, dy = sample(self.shift, rng), sample(self.shift, rng)
        # grid_sample reads the source at theta @ (x, y, 1) for output coordinates in [-1, 1]:
        # a face zoomed by z and moved by (dx, dy) sides reads at (x - 2 dx) / z.
        theta = torch.tensor(
            [[1.0 / zoom, 0.0, -2.0 * dx / zoom], [0.0, 1.0 / zoom, -2.0 * dy / zoom]],
            dtype=image.dtype,
        )
        grid = F.affine_grid(theta[None], [1, *image.shape], align_corners=False)
        out = F.grid_sample(
            image[None], grid, mode="bicubic", padding_mode="reflection", align_corners=False
        )
        return out[0].clamp(-1.0, 1.0)


@dataclass(frozen=True)
class Illumination(Step):
    """Other light: a ``gamma`` on intensity (> 1 darkens mid-tones), a ``contrast`` about the
    face's mean, and a colour ``tint`` (per-channel gain drawn in [1 - tint, 1 + tint])."""

    gamma: Spec = (1.0, 1.8)
    contrast: Spec = (0.7, 1.0)
    tint: float = 0.0

    def __post_init__(self) -> None:
        check_range("Illumination.gamma", self.gamma, 0.2, 5.0)
        check_range("Illumination.contrast", self.contrast, 0.1, 3.0)
        check_range("Illumination.tint", self.tint, 0.0, 0.5)

    def apply(self, image, rng, lr_size):
        gamma, contrast = sample(self.gamma, rng), sample(self.contrast, rng)
        gains = torch.tensor([sample((1 - self.tint, 1 + self.tint), rng) for _ in range(3)])
        intensity = ((image + 1.0) / 2.0).clamp(0.0, 1.0) ** gamma
        mean = intensity.mean()
        intensity = (intensity - mean) * contrast + mean
        intensity = intensity * gains.to(image.dtype)[:, None, None]
        return (intensity.clamp(0.0, 1.0) * 2.0 - 1.0).to(image.dtype)


@dataclass(frozen=True)
class Greyscale(Step):
    """A greyscale face (BT.601 luma on every channel), for a ``probability`` share of them."""

    probability: float = 0.1

    def apply(self, image, rng, lr_size):
        return luma(image[None])[0].expand_as(image).clone()
