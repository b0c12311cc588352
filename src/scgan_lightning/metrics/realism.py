"""Realism without ground truth: how far a set of restored faces lies from real HR faces in
dlib's face-descriptor space (Frechet distance and KID), where no wheel ships an Inception.

The descriptor (128-d, trained to tell people apart) sees faces, not textures: a restorer that
draws face-like structure moves towards the HR set, one that blurs or smears moves away. The
distance between two HR sets (``floor``) is what sampling alone gives; values near it cannot
be told apart. Whether this distance ranks restorers as the distance to their own paired HR
faces does is measured on the controlled sets (docs/EVALUATION.md) before it chooses anything.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from .fid import fid_kid
from .identity import IdentityDistance

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


class DescriptorRealism:
    """Frechet distance and KID of face sets in dlib's descriptor space."""

    def __init__(self, describer: IdentityDistance | None = None) -> None:
        self.describer = describer or IdentityDistance()

    def features(self, batches: Iterable[torch.Tensor]) -> torch.Tensor:
        """(N, 128) float64 descriptors of batches of [-1, 1] faces."""
        return torch.from_numpy(
            np.concatenate([self.describer.descriptors(batch) for batch in batches])
        ).double()

    @staticmethod
    def distances(reference: torch.Tensor, restored: torch.Tensor, seed: int = 0) -> dict:
        """``fd`` (Frechet distance) and ``kid`` (x 1e3, unbiased, polynomial kernel) between
        two descriptor sets."""
        scores = fid_kid(reference, restored, KID_SUBSETS, KID_SUBSET_SIZE, seed)
        return {"fd": scores["fid"], "kid": scores["kid_mean"] * 1e3}
