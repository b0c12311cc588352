"""Unpaired scoring of real LR faces, which have no ground truth.

What a restorer can be held to there: consistency with its input (4x average pooling of its
output against it, and the same in the low band only), sharpness (edge energy of its output
relative to real HR faces), and the distance of its outputs to a reference HR set (FID / KID
with an Inception, Frechet distance / KID in dlib's face-descriptor space without one).
Methods are functions from an LR batch to an SR batch, as in ``paired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..imaging import as_8bit
from ..inference.restorer import FaceRestorer
from ..metrics.fid import extract_features, fid_kid
from ..metrics.real_lr import consistency_psnr, gradient_energy, lowfreq_consistency_psnr
from ..metrics.realism import DescriptorRealism
from .faces import check_counts, face_files, load_faces
from .paired import BICUBIC, SR, Restore, bicubic


def features(
    extractor: nn.Module, batches: Iterable[torch.Tensor], device: torch.device | str
) -> torch.Tensor:
    """FID features (N, F) of batches of [-1, 1] images, each run on ``device``."""
    return torch.cat([extract_features(extractor, batch.to(device)).cpu() for batch in batches])


def fid_scores(
    methods: Mapping[str, Restore],
    lr: torch.Tensor,
    real: torch.Tensor,
    extractor: nn.Module,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """FID and KID of each method's outputs for ``lr`` against the ``real`` features."""
    rows = {}
    for name, restore in methods.items():
        outputs = (as_8bit(restore(chunk)) for chunk in lr.split(batch_size))
        rows[name] = fid_kid(
            real, features(extractor, outputs, device), kid_subsets, kid_subset_size, seed
        )
    return rows


def sharpness_reference(hr: torch.Tensor) -> float:
    """The mean edge energy of real HR faces, against which sharpness is measured."""
    return float(gradient_energy(hr).mean())


def real_lr_scores(
    methods: Mapping[str, Restore],
    lr: torch.Tensor,
    reference: float | None,
    scale: int,
    realism: DescriptorRealism | None = None,
    reference_descriptors: torch.Tensor | None = None,
    batch_size: int = 64,
) -> dict[str, dict[str, float]]:
    """Consistency and low-band consistency (dB), sharpness (edge energy over the HR set's
    ``reference``, when given) and, with ``realism`` and the HR set's descriptors,
    ``realism_fd`` / ``realism_kid`` of each method's outputs for ``lr``."""
    rows = {}
    for name, restore in methods.items():
        sr = torch.cat([as_8bit(restore(chunk)) for chunk in lr.split(batch_size)])
        rows[name] = {
            "consistency": float(consistency_psnr(sr, lr, scale).mean()),
            "lowfreq_consistency": float(lowfreq_consistency_psnr(sr, lr, scale).mean()),
        }
        if reference is not None:
            rows[name]["sharpness"] = float(gradient_energy(sr).mean()) / reference
        if realism is not None and reference_descriptors is not None:
            restored = realism.features(sr.split(batch_size))
            distances = realism.distances(reference_descriptors, restored)
            rows[name].update({f"realism_{k}": v for k, v in distances.items()})
    return rows


def evaluate_unpaired(
    restorer: FaceRestorer,
    lr_dir: str | Path,
    ref_hr_dir: str | Path,
    extractor: nn.Module,
    *,
    max_images: int | None = None,
    batch_size: int = 32,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """FID / KID of the restorer (row ``SR``) and bicubic for the real LR faces of ``lr_dir``.

    ``extractor`` maps uint8 NCHW images to features (the FID Inception, or a stand-in);
    ``max_images`` caps each folder.
    """
    check_counts(batch_size, max_images)
    device = restorer.device
    extractor = extractor.to(device).eval()
    lr_files = face_files(lr_dir, "lr_dir", max_images)
    hr_files = face_files(ref_hr_dir, "ref_hr_dir", max_images)
    lr = load_faces(lr_files, restorer.lr_size)
    chunks = (hr_files[i : i + batch_size] for i in range(0, len(hr_files), batch_size))
    real = features(extractor, (load_faces(c, restorer.hr_size) for c in chunks), device)
    rows = fid_scores(
        {SR: restorer.restore_faces, BICUBIC: bicubic(restorer.hr_size)},
        lr,
        real,
        extractor,
        batch_size=batch_size,
        device=device,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        seed=seed,
    )
    settings = {
        "lr_dir": str(lr_dir),
        "ref_hr_dir": str(ref_hr_dir),
        "reference_images": len(hr_files),
        "scale": restorer.scale,
        "hr_size": restorer.hr_size,
        "kid_subset_size": min(kid_subset_size, len(lr_files), len(hr_files)),
    }
    return {"mode": "unpaired", "images": len(lr_files), "settings": settings, "rows": rows}
