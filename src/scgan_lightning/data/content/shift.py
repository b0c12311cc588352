"""A content shift: how the "real" LR population differs from the HR set in what it shows.

The controlled benchmark's no-gap track splits one pool of faces, so its HR and LR halves share
pose, framing and light; real tiny faces (WIDER FACE) differ from CelebA crops in all three.
A content shift makes that gap measurable while keeping ground truth: ``select`` draws which
faces form the shifted population (e.g. the more turned ones), ``steps`` change each of them
(framing, light, greyscale), and only then is the degradation applied.

Anything with ``shift(hr, rng) -> hr`` (one (3,H,W) image in [-1, 1], same size) is a content
shift; a :class:`ContentShift` composes steps and selections in YAML (``conf/content_shift``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..degradation.chain import image_seed

ImageShift = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class ContentShift:
    """Selections then per-image steps; each selection keeps its ``share`` of the faces."""

    steps: Sequence[Callable] = field(default_factory=tuple)
    select: Sequence[object] = field(default_factory=tuple)
    name: str = "content_shift"

    def __call__(self, hr: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        image = hr
        for step in self.steps:
            image = step(image, rng, hr.shape[-1])
        return image

    def chosen(self, images: torch.Tensor) -> np.ndarray:
        """Indices (sorted) of the faces of (N,3,H,W) that form the shifted population."""
        keep = np.arange(len(images))
        for selection in self.select:
            scores = np.asarray(selection.score(images[keep]))
            count = max(1, math.ceil(len(keep) * selection.share))
            order = np.argsort(-scores, kind="stable")  # ties keep file order
            keep = np.sort(keep[order[:count]])
        return keep


def selections(shift: object | None) -> Sequence[object]:
    """The population selections of a shift (none for a plain callable)."""
    return tuple(getattr(shift, "select", ()) or ())


def shift_images(
    shift: ImageShift, images: torch.Tensor, keys: Sequence[str], seed: int
) -> torch.Tensor:
    """Each image of (N,3,H,W) shifted with its own generator (seeded by ``seed`` and its key,
    apart from the degradation's draws), checked to keep its shape and range."""
    out = []
    for image, key in zip(images, keys, strict=True):
        rng = torch.Generator().manual_seed(image_seed(seed, f"content/{key}"))
        shifted = shift(image, rng)
        if not isinstance(shifted, torch.Tensor) or shifted.shape != image.shape:
            got = tuple(shifted.shape) if isinstance(shifted, torch.Tensor) else type(shifted)
            expected = tuple(image.shape)
            raise ValueError(
                f"content shift {describe_shift(shift)} returned {got}; expected {expected}"
            )
        out.append(shifted.clamp(-1.0, 1.0))
    return torch.stack(out)


def describe_shift(shift: object) -> str:
    """A name for messages and set names."""
    if isinstance(shift, ContentShift):
        return shift.name
    target = getattr(shift, "func", shift)
    return getattr(target, "__qualname__", type(target).__name__)
