"""Whether a measure without ground truth ranks restorers as ground truth does.

Real LR faces have no HR, so a real-face model can only be chosen by measures that need none:
consistency with the input (fidelity) and the distance of the outputs to an HR set (realism).
Before such a measure chooses anything it is checked on controlled sets, where ground truth
exists: every restorer restores a set's held-out LR faces, each measure is computed as it
would be on real faces, and its ranking of the restorers is compared (Kendall's tau,
Spearman's rho) with the ranking by the truth it stands in for: PSNR / SSIM for fidelity, the
same distance taken to the restorers' own paired HR faces for realism.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from ..imaging import as_8bit
from ..metrics.fidelity import paired_scores
from ..metrics.real_lr import consistency_psnr, gradient_energy, lowfreq_consistency_psnr
from ..metrics.realism import DescriptorRealism
from .benchmark import pair_tensors
from .paired import Restore


@dataclass(frozen=True)
class Check:
    """A measure, the ground-truth score it stands in for, and whether higher is better for
    each (so that agreement is always a positive correlation)."""

    measure: str
    truth: str
    measure_higher_better: bool
    truth_higher_better: bool


CHECKS = (
    Check("consistency", "psnr", True, True),
    Check("consistency", "ssim", True, True),
    Check("lowfreq_consistency", "psnr", True, True),
    Check("lowfreq_consistency", "ssim", True, True),
    Check("realism_fd", "realism_fd_paired", False, False),
    Check("realism_kid", "realism_kid_paired", False, False),
    Check("sharpness_gap", "sharpness_gap_paired", False, False),
    # Not a validation: whether a realism measure also tracks fidelity (it need not).
    Check("realism_fd", "psnr", False, True),
)


def restored_8bit(restore: Restore, lr: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The restored faces in batches, as the 8-bit images a user would save."""
    return torch.cat([as_8bit(restore(chunk)) for chunk in lr.split(batch_size)])


def _sharpness_gap(sr: torch.Tensor, reference: float) -> float:
    """|log| of the outputs' edge energy over the reference's: 0 when as sharp as HR faces."""
    return abs(float(np.log(float(gradient_energy(sr).mean()) / reference)))


def score_set(
    methods: Mapping[str, Restore],
    pairs_dir: str | Path,
    reference_hr: torch.Tensor,
    realism: DescriptorRealism | None,
    scale: int,
    *,
    max_pairs: int | None = None,
    batch_size: int = 64,
) -> dict[str, dict[str, float]]:
    """Every method's ground-truth scores and real-LR measures on one controlled set's
    held-out pairs; ``reference_hr`` is the HR set the real-LR measures compare with (the
    HR half a user trains on), the pairs' own HR faces the truth they stand in for."""
    hr, lr = pair_tensors(pairs_dir, max_pairs)
    lr = as_8bit(lr)
    reference = float(gradient_energy(reference_hr).mean())
    paired = float(gradient_energy(hr).mean())
    descriptors = {}
    if realism is not None:
        descriptors["ref"] = realism.features(reference_hr.split(batch_size))
        descriptors["paired"] = realism.features(hr.split(batch_size))
    rows = {}
    for name, restore in methods.items():
        sr = restored_8bit(restore, lr, batch_size)
        truth = paired_scores(sr, hr, 0, False)
        row = {
            "psnr": float(truth["psnr"].mean()),
            "ssim": float(truth["ssim"].mean()),
            "consistency": float(consistency_psnr(sr, lr, scale).mean()),
            "lowfreq_consistency": float(lowfreq_consistency_psnr(sr, lr, scale).mean()),
            "sharpness_gap": _sharpness_gap(sr, reference),
            "sharpness_gap_paired": _sharpness_gap(sr, paired),
        }
        if realism is not None:
            restored = realism.features(sr.split(batch_size))
            for side, suffix in (("ref", ""), ("paired", "_paired")):
                for key, value in realism.distances(descriptors[side], restored).items():
                    row[f"realism_{key}{suffix}"] = value
        rows[name] = row
    return rows


def rank_agreement(rows: Mapping[str, Mapping[str, float]], check: Check) -> dict[str, float]:
    """Kendall's tau and Spearman's rho between a measure and its truth over the methods,
    signed so that +1 means the measure orders them exactly as the truth does."""
    names = [n for n, row in rows.items() if check.measure in row and check.truth in row]
    measure = np.array([rows[n][check.measure] for n in names])
    truth = np.array([rows[n][check.truth] for n in names])
    sign = 1.0 if check.measure_higher_better == check.truth_higher_better else -1.0
    tau = stats.kendalltau(measure, truth).statistic
    rho = stats.spearmanr(measure, truth).statistic
    return {"kendall": sign * float(tau), "spearman": sign * float(rho), "methods": len(names)}
