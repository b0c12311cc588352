"""The SCGAN objective: hinge adversarial terms and L1 consistency, as released."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    """alpha: L1 content weight, beta: adversarial weight, theta/gamma: the two cycle terms."""

    alpha: float = 1.0
    beta: float = 0.05
    theta: float = 1.0
    gamma: float = 0.05


def hinge_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def generator_term(
    output: torch.Tensor, target: torch.Tensor, fake_scores: torch.Tensor, w: LossWeights
) -> torch.Tensor:
    """``alpha * l1(output, target) + beta * (-mean(D(output)))``."""
    return w.alpha * F.l1_loss(output, target) - w.beta * fake_scores.mean()
