"""LR degradation chains: composable steps, seeded per image, presets in ``conf/degradation``.

``avgpool`` stays the released G_DHL target; the other presets are "real" LR domains for the
controlled benchmark, where the method is not told which chain made its LR faces.
"""

from .chain import Chain, Degradation, degrade_images, describe, image_seed
from .registry import load_degradation, preset_names
from .steps import (
    JPEG,
    AnisotropicBlur,
    Downscale,
    GaussianBlur,
    GaussianNoise,
    MotionBlur,
    OneOf,
    PoissonNoise,
    RandomResize,
    Step,
)

__all__ = [
    "JPEG",
    "AnisotropicBlur",
    "Chain",
    "Degradation",
    "Downscale",
    "GaussianBlur",
    "GaussianNoise",
    "MotionBlur",
    "OneOf",
    "PoissonNoise",
    "RandomResize",
    "Step",
    "degrade_images",
    "describe",
    "image_seed",
    "load_degradation",
    "preset_names",
]
