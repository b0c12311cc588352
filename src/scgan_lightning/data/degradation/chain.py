"""A degradation: HR face -> LR face, deterministic given a seed.

Anything with the signature ``degradation(hr, rng, scale) -> lr`` is a degradation: a
:class:`Chain` of steps composed in YAML, or a user's own callable given by ``_target_``.
``hr`` is one image (3,H,W) in [-1, 1]; ``lr`` must be (3,H/scale,W/scale) in [-1, 1].
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .steps import Step

Degradation = Callable[[torch.Tensor, torch.Generator, int], torch.Tensor]


@dataclass(frozen=True)
class Chain:
    """Steps applied in order; the last resize must reach the LR size (a ``Downscale``)."""

    steps: Sequence[Step] = field(default_factory=tuple)
    name: str = "chain"

    def __call__(self, hr: torch.Tensor, rng: torch.Generator, scale: int) -> torch.Tensor:
        image = hr
        for step in self.steps:
            image = step(image, rng, hr.shape[-1] // scale)
        return image


def image_seed(seed: int, key: str | int) -> int:
    """The generator seed of one image: a function of the run's seed and the image's key
    (its file name or index), so an image degrades the same in any order or batch."""
    return zlib.crc32(f"{seed}/{key}".encode())


def degrade_images(
    degradation: Degradation,
    images: torch.Tensor,
    scale: int,
    keys: Sequence[str | int],
    seed: int = 0,
) -> torch.Tensor:
    """Degrade each image of (N,3,H,W) with its own generator; returns (N,3,H/s,W/s).

    Runs on the CPU (JPEG coding is PIL's); the result goes back to the input's device.
    A degradation that returns the wrong shape or range is named in the error.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (N,3,H,W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"image size {width}x{height} is not divisible by scale {scale}")
    expected = (3, height // scale, width // scale)
    out = []
    for image, key in zip(images.detach().float().cpu(), keys, strict=True):
        rng = torch.Generator().manual_seed(image_seed(seed, key))
        low = degradation(image, rng, scale)
        if not isinstance(low, torch.Tensor) or tuple(low.shape) != expected:
            got = tuple(low.shape) if isinstance(low, torch.Tensor) else type(low).__name__
            raise ValueError(
                f"degradation {describe(degradation)} returned {got} for a {width}x{height} "
                f"image; expected a tensor of shape {expected}"
            )
        out.append(low.clamp(-1.0, 1.0))
    return torch.stack(out).to(images.device)


def describe(degradation: Degradation) -> str:
    """A name for messages: the chain's name or the callable's qualified name."""
    if isinstance(degradation, Chain):
        return degradation.name
    target = getattr(degradation, "func", degradation)  # functools.partial from _partial_
    return getattr(target, "__qualname__", type(target).__name__)
