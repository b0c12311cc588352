"""PSNR / SSIM as BasicSR computes them, so numbers compare with published tables.

8-bit images, ``crop_border`` pixels dropped on each side, optionally only the BT.601 luma
(Y of YCbCr), float64 arithmetic, SSIM with an 11x11 Gaussian window (sigma 1.5) over the
'valid' region, averaged over channels. The tensor versions round [-1, 1] batches to 8 bits
first and give the same numbers per image; validation and evaluation both score through
``paired_scores``, so ``val/psnr`` and ``evaluate`` report the same number for the same faces.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..colour import STUDIO_Y_OFFSET, STUDIO_Y_WEIGHTS
from ..imaging import quantize

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def _prepare(img: np.ndarray, crop_border: int, test_y_channel: bool) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border, :]
    if test_y_channel:
        img = rgb_to_y(img)[..., None]
    return img


def _check_pair(img1: np.ndarray, img2: np.ndarray, crop_border: int) -> None:
    if np.shape(img1) != np.shape(img2):
        raise ValueError(f"image shapes differ: {np.shape(img1)} vs {np.shape(img2)}")
    if crop_border < 0 or 2 * crop_border >= min(np.shape(img1)[:2]):
        raise ValueError(f"crop_border={crop_border} does not fit images of {np.shape(img1)}")


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma Y (0-255 range) of an HWC RGB image in the 0-255 range."""
    rgb = np.asarray(img, dtype=np.float64) / 255.0
    return rgb @ np.asarray(STUDIO_Y_WEIGHTS) + STUDIO_Y_OFFSET


def psnr(
    img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False
) -> float:
    """PSNR in dB of two HWC images in the 0-255 range; ``inf`` when they are equal."""
    _check_pair(img1, img2, crop_border)
    a = _prepare(img1, crop_border, test_y_channel)
    b = _prepare(img2, crop_border, test_y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised 2-D Gaussian SSIM window (outer product, like cv2.getGaussianKernel)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def _filter_valid(channel: np.ndarray, window: np.ndarray) -> np.ndarray:
    patches = np.lib.stride_tricks.sliding_window_view(channel, window.shape)
    return np.einsum("ijkl,kl->ij", patches, window)


def _ssim_channel(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> float:
    mu1, mu2 = _filter_valid(a, window), _filter_valid(b, window)
    sigma1 = _filter_valid(a * a, window) - mu1**2
    sigma2 = _filter_valid(b * b, window) - mu2**2
    sigma12 = _filter_valid(a * b, window) - mu1 * mu2
    numerator = (2 * mu1 * mu2 + SSIM_C1) * (2 * sigma12 + SSIM_C2)
    denominator = (mu1**2 + mu2**2 + SSIM_C1) * (sigma1 + sigma2 + SSIM_C2)
    return float(np.mean(numerator / denominator))


def ssim(
    img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False
) -> float:
    """SSIM of two HWC images in the 0-255 range, the mean of the per-channel SSIMs."""
    _check_pair(img1, img2, crop_border)
    a = _prepare(img1, crop_border, test_y_channel)
    b = _prepare(img2, crop_border, test_y_channel)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {a.shape}")
    window = gaussian_window()
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], window) for c in range(a.shape[2])]))


def _prepare_tensor(images: torch.Tensor, crop_border: int, test_y_channel: bool) -> torch.Tensor:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) tensor, got {tuple(images.shape)}")
    if crop_border < 0 or 2 * crop_border >= min(images.shape[-2:]):
        raise ValueError(f"crop_border={crop_border} does not fit images of {tuple(images.shape)}")
    x = quantize(images)
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel:
        weights = x.new_tensor(STUDIO_Y_WEIGHTS).view(1, 3, 1, 1)
        x = (x / 255.0 * weights).sum(dim=1, keepdim=True) + STUDIO_Y_OFFSET
    return x


def _prepare_pair(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int, test_y_channel: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if sr.shape != hr.shape:
        raise ValueError(f"batch shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    return (
        _prepare_tensor(sr, crop_border, test_y_channel),
        _prepare_tensor(hr, crop_border, test_y_channel),
    )


def psnr_tensor(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> torch.Tensor:
    """Per-image PSNR (N,) of [-1, 1] NCHW batches, after 8-bit quantisation, as ``psnr``."""
    a, b = _prepare_pair(sr, hr, crop_border, test_y_channel)
    mse = (a - b).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(255.0**2 / mse)  # mse == 0 gives inf, as BasicSR


def ssim_tensor(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> torch.Tensor:
    """Per-image SSIM (N,) of [-1, 1] NCHW batches, after 8-bit quantisation, as ``ssim``."""
    a, b = _prepare_pair(sr, hr, crop_border, test_y_channel)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels")
    channels = a.shape[1]
    window = torch.from_numpy(gaussian_window()).to(a.device)
    weight = window.expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, weight, groups=channels)

    mu1, mu2 = blur(a), blur(b)
    sigma1 = blur(a * a) - mu1**2
    sigma2 = blur(b * b) - mu2**2
    sigma12 = blur(a * b) - mu1 * mu2
    numerator = (2 * mu1 * mu2 + SSIM_C1) * (2 * sigma12 + SSIM_C2)
    denominator = (mu1**2 + mu2**2 + SSIM_C1) * (sigma1 + sigma2 + SSIM_C2)
    # Equal-sized channel maps: the mean over all equals the mean of per-channel means.
    return (numerator / denominator).flatten(1).mean(dim=1)


def paired_scores(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> dict[str, torch.Tensor]:
    """Per-image ``psnr`` and ``ssim`` (N,) of a restored batch against its HR batch."""
    return {
        "psnr": psnr_tensor(sr, hr, crop_border, test_y_channel),
        "ssim": ssim_tensor(sr, hr, crop_border, test_y_channel),
    }
