"""Paired scoring: PSNR / SSIM (/ LPIPS) against HR faces whose LR is made on purpose.

Every method is a function from an LR batch to an SR batch (a ``FaceRestorer``'s
``restore_faces``, the bicubic baseline), and all of them are scored on the same pairs, made
by the dataset validation uses (``PairedSyntheticDataset``: image i degraded with seed
``seed + i``, so scores do not depend on the batch size). LR, outputs and HR are scored as
8-bit images, as validation scores them: ``val/psnr`` and ``evaluate`` agree.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data.datasets import PairedFolderDataset, PairedSyntheticDataset
from ..data.degradation import load_degradation
from ..errors import UserError
from ..imaging import as_8bit, bicubic_upsample
from ..inference.restorer import FaceRestorer
from ..metrics.fidelity import SSIM_WINDOW, paired_scores
from .faces import check_counts, face_files

Restore = Callable[[torch.Tensor], torch.Tensor]
# Row names of the evaluate tables: the restorer's output and the bicubic baseline.
SR, BICUBIC = "SR", "bicubic"


def bicubic(hr_size: int) -> Restore:
    """The bicubic baseline as a method."""
    return functools.partial(bicubic_upsample, size=hr_size)


def check_degradation(degradation: Any) -> None:
    """A preset name, a .yaml file or a config; a wrong one fails here, in one line."""
    load_degradation(degradation)


def check_crop_border(crop_border: int, hr_size: int) -> None:
    if crop_border < 0 or hr_size - 2 * crop_border < SSIM_WINDOW:
        raise UserError(
            f"crop_border={crop_border} must be >= 0 and leave {SSIM_WINDOW} pixels "
            f"of the {hr_size}-pixel images for SSIM"
        )


def make_pairs(
    hr_files: Sequence[Path], hr_size: int, scale: int, degradation: str, seed: int = 0
) -> PairedSyntheticDataset:
    """HR faces with their LR made by ``degradation`` (unreadable files skipped, named)."""
    check_degradation(degradation)
    return PairedSyntheticDataset(hr_files, hr_size, scale, degradation, seed=seed)


def score_paired(
    methods: Mapping[str, Restore],
    pairs: PairedSyntheticDataset | PairedFolderDataset,
    *,
    crop_border: int = 0,
    test_y_channel: bool = False,
    batch_size: int = 32,
    lpips_model: nn.Module | None = None,
    identity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Mean ``psnr`` and ``ssim`` (and ``lpips`` with a model, ``identity`` with an identity
    distance such as ``metrics.identity.IdentityDistance``) of each method over ``pairs``."""
    check_crop_border(crop_border, pairs.hr_size)
    scores: dict[str, dict[str, list[torch.Tensor]]] = {n: defaultdict(list) for n in methods}
    for batch in DataLoader(pairs, batch_size=batch_size):
        hr, lr = batch["hr"], as_8bit(batch["lr"])
        for name, restore in methods.items():
            sr = as_8bit(restore(lr))
            for key, value in paired_scores(sr, hr, crop_border, test_y_channel).items():
                scores[name][key].append(value)
            if lpips_model is not None:
                with torch.inference_mode():
                    distance = lpips_model(sr.to(device), hr.to(device))
                scores[name]["lpips"].append(distance.flatten().double().cpu())
            if identity is not None:
                scores[name]["identity"].append(identity(sr, hr).double())
    return {
        name: {key: float(torch.cat(values).mean()) for key, values in columns.items()}
        for name, columns in scores.items()
    }


def evaluate_paired(
    restorer: FaceRestorer,
    hr_dir: str | Path,
    *,
    degradation: str = "avgpool",
    seed: int = 0,
    crop_border: int = 0,
    test_y_channel: bool = False,
    max_images: int | None = None,
    batch_size: int = 32,
    lpips_model: nn.Module | None = None,
) -> dict[str, Any]:
    """The restorer (row ``SR``) and bicubic against the HR faces of ``hr_dir``."""
    check_counts(batch_size, max_images)
    check_degradation(degradation)
    check_crop_border(crop_border, restorer.hr_size)
    pairs = make_pairs(
        face_files(hr_dir, "hr_dir", max_images),
        restorer.hr_size,
        restorer.scale,
        degradation,
        seed,
    )
    rows = score_paired(
        {SR: restorer.restore_faces, BICUBIC: bicubic(restorer.hr_size)},
        pairs,
        crop_border=crop_border,
        test_y_channel=test_y_channel,
        batch_size=batch_size,
        lpips_model=lpips_model,
        device=restorer.device,
    )
    settings = {
        "hr_dir": str(hr_dir),
        "degradation": degradation,
        "seed": seed,
        "scale": restorer.scale,
        "hr_size": restorer.hr_size,
        "crop_border": crop_border,
        "test_y_channel": test_y_channel,
    }
    return {"mode": "paired", "images": len(pairs), "settings": settings, "rows": rows}
