"""FID / KID of feature sets, with the FID Inception read from a local file (no download)."""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from ..errors import UserError
from ..imaging import quantize
from ..serialization import load_weights_file
from .weights import resolve_weights

# The FID Inception (TF 2015-12-05 graph) ported to PyTorch by torch-fidelity.
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


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
