"""Image-quality metrics: PSNR / SSIM as BasicSR computes them, LPIPS and FID / KID offline.

PSNR and SSIM follow BasicSR (``basicsr/metrics/psnr_ssim.py``) so numbers are comparable with
published tables: 8-bit images, ``crop_border`` pixels dropped on each side, optionally only the
BT.601 luma (Y of YCbCr), float64 arithmetic, SSIM with an 11x11 Gaussian window (sigma 1.5)
over the 'valid' region, averaged over channels. The tensor versions give the same numbers
per image for fast validation.

LPIPS and FID / KID never download: backbone weights come from a path the user gives or from
torch's hub cache (``$TORCH_HOME/hub/checkpoints``), otherwise a ``UserError`` names the file.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .serialization import load_weights_file

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2
# BT.601 luma of RGB in [0, 1], giving Y in [16, 235] (MATLAB rgb2ycbcr, BasicSR y_only).
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0

# torchvision's ImageNet checkpoints LPIPS builds on, as named in torch's hub cache.
LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
# The FID Inception (TF 2015-12-05 graph) ported to PyTorch by torch-fidelity.
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


# ----------------------------------------------------------------------------- PSNR / SSIM


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
    return rgb @ np.asarray(Y_WEIGHTS) + Y_OFFSET


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


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] tensor -> the float64 0-255 integers a saved 8-bit image would hold."""
    return ((images.detach().double() + 1.0) * 127.5).clamp_(0, 255).round_()


def _prepare_tensor(images: torch.Tensor, crop_border: int, test_y_channel: bool) -> torch.Tensor:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) tensor, got {tuple(images.shape)}")
    if crop_border < 0 or 2 * crop_border >= min(images.shape[-2:]):
        raise ValueError(f"crop_border={crop_border} does not fit images of {tuple(images.shape)}")
    x = quantize(images)
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel:
        weights = x.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)
        x = (x / 255.0 * weights).sum(dim=1, keepdim=True) + Y_OFFSET
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


# ----------------------------------------------------------------------------- weight files


def _hub_checkpoint(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def resolve_weights(weights_path: str | os.PathLike | None, filename: str, what: str) -> Path:
    """The user's weights file, else torch's hub cache copy; a UserError names what is missing."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: no such file (expected the {what} weights {filename})")
        return path
    cached = _hub_checkpoint(filename)
    if not cached.is_file():
        raise UserError(
            f"{what} weights not found: set weights_path to your copy of {filename} or place "
            f"it at {cached} (nothing is downloaded)"
        )
    return cached


# ----------------------------------------------------------------------------- LPIPS


def build_lpips(weights_path: str | os.PathLike | None, net: str = "alex") -> nn.Module:
    """LPIPS (v0.1) with the ImageNet backbone read from a torchvision checkpoint file.

    The calibrated linear layers ship inside the ``lpips`` package; only the backbone would be
    downloaded by ``lpips`` itself, so it is built random and then loaded from ``weights_path``
    (a torchvision ``state_dict``, e.g. ``alexnet-owt-7be5be79.pth``) or the hub cache.
    The module takes two [-1, 1] NCHW batches and returns distances of shape (N, 1, 1, 1).
    """
    import lpips

    if net not in LPIPS_BACKBONE_FILES:
        raise UserError(f"lpips net {net!r} unknown; choose one of {sorted(LPIPS_BACKBONE_FILES)}")
    filename = LPIPS_BACKBONE_FILES[net]
    path = resolve_weights(weights_path, filename, f"LPIPS {net} backbone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    backbone = load_weights_file(path)
    if not isinstance(backbone, dict):
        raise UserError(f"{path}: expected a torchvision {net} state_dict")
    # LPIPS splits torchvision's ``features`` into slices keeping the layer indices:
    # ``slice2.3.weight`` is torchvision's ``features.3.weight``.
    target = model.net.state_dict()
    state = {}
    for key, expected in target.items():
        source_key = "features." + key.split(".", 1)[1]
        value = backbone.get(source_key)
        if value is None:
            raise UserError(f"{path}: key {source_key!r} missing, not a torchvision {net} file")
        if value.shape != expected.shape:
            raise UserError(
                f"{path}: {source_key!r} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected.shape)} for {net}"
            )
        state[key] = value.float()
    model.net.load_state_dict(state)
    return model.eval().requires_grad_(False)


# ----------------------------------------------------------------------------- FID / KID


def build_inception(weights_path: str | os.PathLike | None) -> nn.Module:
    """The FID Inception-v3 (2048-d pool features) of torchmetrics / torch-fidelity, offline.

    It takes uint8 NCHW images of any size, resized to 299 with torch-fidelity's TF1-style
    bilinear (``antialias=False``) so scores match torch-fidelity's reference FID.
    """
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    except ImportError as err:  # pragma: no cover - torchmetrics is a dependency
        raise UserError(f"FID/KID need torchmetrics ({err})") from None
    if not _TORCH_FIDELITY_AVAILABLE:
        raise UserError("FID/KID with Inception need the torch-fidelity package (pip install)")
    path = resolve_weights(weights_path, INCEPTION_FILE, "FID Inception")
    # torch-fidelity loads with weights_only=False; check first that the file is plain tensors.
    load_weights_file(path)
    try:
        return NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(path),
            antialias=False,
        )
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"{path}: not the FID Inception weights ({first})") from None


class _Precomputed(nn.Module):
    """Identity 'feature extractor' so torchmetrics metrics accept features computed once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@torch.inference_mode()
def extract_features(extractor: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Features (N, F) in float64 of [-1, 1] NCHW images, fed to ``extractor`` as uint8."""
    pixels = quantize(images).to(torch.uint8)
    return extractor(pixels).reshape(len(pixels), -1).double()


def fid_kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """FID and KID (mean, std) between two feature sets (N, F), via torchmetrics.

    The KID subset size is capped by the smaller set; its random subsets come from ``seed``.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    if n < 2:
        raise UserError(f"FID/KID need at least 2 images per set, got {len(real)} and {len(fake)}")
    passthrough = _Precomputed(real.shape[1])
    fid = FrechetInceptionDistance(feature=passthrough)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "KID keeps all features": so do we
        kid = KernelInceptionDistance(
            feature=passthrough, subsets=kid_subsets, subset_size=min(kid_subset_size, n)
        )
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std)}


# --------------------------------------------------------------- real LR faces (no ground truth)


def consistency_psnr(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Per-image PSNR (0..255) between ``scale``x average pooling of ``sr`` and its input ``lr``.

    Real LR faces have no HR; what a restorer can be held to is that shrinking its output
    gives back its input. Both batches are in [-1, 1]; each is scored as 8-bit pixels.
    """
    pooled = F.avg_pool2d(quantize(sr).float(), scale)
    diff = pooled - quantize(lr).float()
    mse = diff.pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10.0 * torch.log10(255.0**2 / mse)).double()


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean |dx| + |dy| of the grey (BT.601 luma, 0..255) image: how much edge it has."""
    pixels = quantize(images).float()
    weights = torch.tensor([0.299, 0.587, 0.114]).to(pixels).view(1, 3, 1, 1)
    grey = (pixels * weights).sum(1)
    dx = (grey[:, :, 1:] - grey[:, :, :-1]).abs().flatten(1).mean(1)
    dy = (grey[:, 1:, :] - grey[:, :-1, :]).abs().flatten(1).mean(1)
    return (dx + dy).double()
