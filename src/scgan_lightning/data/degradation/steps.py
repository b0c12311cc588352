"""The steps a degradation chain is made of: blur, resize, noise, JPEG.

Each step maps one image (3,H,W), float in [-1, 1], to another, drawing every random choice
from the ``torch.Generator`` it is given, so that a chain is deterministic given a seed. A
parameter is either a number or a ``[low, high]`` range sampled uniformly per image: that is
how a "real" LR domain varies from face to face (AIM 2019 / NTIRE 2020 Track 1 style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...imaging import jpeg_roundtrip

Spec = float | Sequence[float]
RESIZE_METHODS = ("area", "bicubic", "bilinear", "nearest")


def sample(spec: Spec, rng: torch.Generator) -> float:
    """A number as given, or a uniform draw from ``[low, high]``."""
    if isinstance(spec, int | float):
        return float(spec)
    low, high = (float(v) for v in spec)
    if high < low:
        raise ValueError(f"range [{low}, {high}] has its bounds the wrong way round")
    return low + (high - low) * torch.rand((), generator=rng).item()


def choose(options: Sequence[str], rng: torch.Generator) -> str:
    """One of ``options``, uniformly."""
    return options[int(torch.randint(len(options), (), generator=rng))]


def check_range(name: str, spec: Spec, low: float, high: float = math.inf) -> None:
    """A config error names the parameter and the allowed interval."""
    values = [spec] if isinstance(spec, int | float) else list(spec)
    if len(values) not in (1, 2) or not all(low <= float(v) <= high for v in values):
        raise ValueError(
            f"{name}={spec!r}: expected a number or [low, high] within [{low}, {high}]"
        )


@dataclass(frozen=True)
class Step:
    """A step applied with ``probability`` (its draw comes first, so seeds stay aligned)."""

    probability: float = 1.0

    def __call__(self, image: torch.Tensor, rng: torch.Generator, lr_size: int) -> torch.Tensor:
        applies = torch.rand((), generator=rng).item() < self.probability
        return self.apply(image, rng, lr_size) if applies else image

    def apply(self, image: torch.Tensor, rng: torch.Generator, lr_size: int) -> torch.Tensor:
        raise NotImplementedError


def _filter(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve each channel with ``kernel`` (odd, square), reflecting at the borders."""
    pad = kernel.shape[-1] // 2
    padded = F.pad(image[None], (pad, pad, pad, pad), mode="reflect")
    weight = kernel.to(image.dtype).expand(image.shape[0], 1, *kernel.shape)
    return F.conv2d(padded, weight, groups=image.shape[0])[0]


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float) -> torch.Tensor:
    """A normalised (rotated, possibly anisotropic) Gaussian, 3 sigma each side."""
    radius = max(1, math.ceil(3 * max(sigma_x, sigma_y)))
    axis = torch.arange(-radius, radius + 1, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = cos * x + sin * y, -sin * x + cos * y
    kernel = torch.exp(-(u**2) / (2 * sigma_x**2) - v**2 / (2 * sigma_y**2))
    return (kernel / kernel.sum()).float()


def motion_kernel(length: float, angle: float) -> torch.Tensor:
    """A straight line of ``length`` pixels at ``angle``, anti-aliased by supersampling."""
    radius = max(1, math.ceil(length / 2))
    size = 2 * radius + 1
    kernel = torch.zeros(size, size, dtype=torch.float64)
    for t in torch.linspace(-(length - 1) / 2, (length - 1) / 2, max(2, int(8 * length))):
        x, y = radius + float(t) * math.cos(angle), radius + float(t) * math.sin(angle)
        x0, y0 = math.floor(x), math.floor(y)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            weight = (1 - abs(x - x0 - dx)) * (1 - abs(y - y0 - dy))
            if 0 <= x0 + dx < size and 0 <= y0 + dy < size:
                kernel[y0 + dy, x0 + dx] += weight
    return (kernel / kernel.sum()).float()


@dataclass(frozen=True)
class GaussianBlur(Step):
    """Isotropic Gaussian blur; ``sigma`` in pixels of the image it is applied to."""

    sigma: Spec = (0.5, 1.5)

    def __post_init__(self) -> None:
        check_range("GaussianBlur.sigma", self.sigma, 0.05, 20)

    def apply(self, image, rng, lr_size):
        s = sample(self.sigma, rng)
        return _filter(image, gaussian_kernel(s, s, 0.0))


@dataclass(frozen=True)
class AnisotropicBlur(Step):
    """Gaussian blur with two sigmas and a rotation (``angle`` in degrees)."""

    sigma_x: Spec = (0.5, 2.5)
    sigma_y: Spec = (0.5, 2.5)
    angle: Spec = (0.0, 180.0)

    def __post_init__(self) -> None:
        check_range("AnisotropicBlur.sigma_x", self.sigma_x, 0.05, 20)
        check_range("AnisotropicBlur.sigma_y", self.sigma_y, 0.05, 20)

    def apply(self, image, rng, lr_size):
        sx, sy = sample(self.sigma_x, rng), sample(self.sigma_y, rng)
        return _filter(image, gaussian_kernel(sx, sy, math.radians(sample(self.angle, rng))))


@dataclass(frozen=True)
class MotionBlur(Step):
    """Linear motion blur: a line kernel ``length`` pixels long at ``angle`` degrees."""

    length: Spec = (3.0, 7.0)
    angle: Spec = (0.0, 180.0)

    def __post_init__(self) -> None:
        check_range("MotionBlur.length", self.length, 1, 64)

    def apply(self, image, rng, lr_size):
        length = sample(self.length, rng)
        return _filter(image, motion_kernel(length, math.radians(sample(self.angle, rng))))


def resize(image: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """Resize one image; bicubic and bilinear are antialiased when they shrink."""
    if method not in RESIZE_METHODS:
        raise ValueError(f"resize method {method!r}: choose one of {', '.join(RESIZE_METHODS)}")
    if tuple(image.shape[-2:]) == size:
        return image
    kwargs = (
        {"antialias": True, "align_corners": False} if method in ("bicubic", "bilinear") else {}
    )
    out = F.interpolate(image[None], size=size, mode=method, **kwargs)[0]
    return out.clamp(-1.0, 1.0)


@dataclass(frozen=True)
class Downscale(Step):
    """Resize to the chain's LR size (the HR size over the scale) by one of ``methods``."""

    methods: Sequence[str] = ("bicubic",)

    def __post_init__(self) -> None:
        for method in self.methods:
            resize(torch.zeros(3, 2, 2), (1, 1), method)  # names a wrong method at config time

    def apply(self, image, rng, lr_size):
        return resize(image, (lr_size, lr_size), choose(list(self.methods), rng))


@dataclass(frozen=True)
class RandomResize(Step):
    """Resize by a random ``factor`` (an intermediate step of second-order chains)."""

    factor: Spec = (0.5, 1.5)
    methods: Sequence[str] = ("area", "bicubic", "bilinear")

    def __post_init__(self) -> None:
        check_range("RandomResize.factor", self.factor, 0.05, 4)

    def apply(self, image, rng, lr_size):
        factor = sample(self.factor, rng)
        height, width = (max(1, round(n * factor)) for n in image.shape[-2:])
        return resize(image, (height, width), choose(list(self.methods), rng))


def _noise_field(image: torch.Tensor, rng: torch.Generator, gray: bool) -> torch.Tensor:
    shape = (1, *image.shape[1:]) if gray else tuple(image.shape)
    return torch.randn(shape, generator=rng, dtype=image.dtype).expand_as(image)


@dataclass(frozen=True)
class GaussianNoise(Step):
    """Additive Gaussian noise; ``sigma`` in grey levels (0-255); grey (one field) with
    ``gray_probability``, else independent per channel."""

    sigma: Spec = (1.0, 10.0)
    gray_probability: float = 0.0

    def __post_init__(self) -> None:
        check_range("GaussianNoise.sigma", self.sigma, 0, 255)

    def apply(self, image, rng, lr_size):
        sigma = sample(self.sigma, rng) * 2.0 / 255.0  # [-1, 1] spans 255 grey levels in 2
        gray = torch.rand((), generator=rng).item() < self.gray_probability
        return (image + sigma * _noise_field(image, rng, gray)).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class PoissonNoise(Step):
    """Shot noise: each pixel counts ``peak`` photons at full white (fewer: noisier)."""

    peak: Spec = (30.0, 300.0)
    gray_probability: float = 0.0

    def __post_init__(self) -> None:
        check_range("PoissonNoise.peak", self.peak, 1, 1e6)

    def apply(self, image, rng, lr_size):
        peak = sample(self.peak, rng)
        gray = torch.rand((), generator=rng).item() < self.gray_probability
        intensity = ((image + 1.0) / 2.0).clamp(0.0, 1.0)
        source = intensity.mean(0, keepdim=True) if gray else intensity
        counts = torch.poisson(source * peak, generator=rng) / peak
        noisy = intensity + (counts - source)  # grey: the same noise field on every channel
        return (noisy * 2.0 - 1.0).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class JPEG(Step):
    """JPEG compression at a ``quality`` (1-95) drawn per image, 4:2:0 chroma as cameras do."""

    quality: Spec = (30.0, 95.0)

    def __post_init__(self) -> None:
        check_range("JPEG.quality", self.quality, 1, 95)

    def apply(self, image, rng, lr_size):
        return jpeg_roundtrip(image, round(sample(self.quality, rng)))


@dataclass(frozen=True)
class OneOf(Step):
    """Exactly one of ``steps``, chosen uniformly (e.g. Gaussian or Poisson noise)."""

    steps: Sequence[Step] = ()

    def apply(self, image, rng, lr_size):
        if not self.steps:
            return image
        return self.steps[int(torch.randint(len(self.steps), (), generator=rng))](
            image, rng, lr_size
        )
