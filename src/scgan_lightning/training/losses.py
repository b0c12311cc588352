"""The SCGAN objective: hinge adversarial terms and L1 consistency, as released."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    """alpha: L1 content weight, beta: adversarial weight, theta/gamma: the two cycle terms.

    ``beta_degrader`` / ``beta_restorer`` override ``beta`` in the degraders' and the
    restorer's objectives (``None``: the released single ``beta``). At small widths the hinge
    term of a winning discriminator dwarfs the L1 term, so the two sides need their own weight.
    """

    alpha: float = 1.0
    beta: float = 0.05
    theta: float = 1.0
    gamma: float = 0.05
    beta_degrader: float | None = None
    beta_restorer: float | None = None

    def for_degraders(self) -> LossWeights:
        """The weights G_DHL and G_DSL train with."""
        return self._with_beta(self.beta_degrader)

    def for_restorer(self) -> LossWeights:
        """The weights G_RLS trains with."""
        return self._with_beta(self.beta_restorer)

    def _with_beta(self, beta: float | None) -> LossWeights:
        return self if beta is None else dataclasses.replace(self, beta=beta)


def hinge_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def generator_term(
    output: torch.Tensor, target: torch.Tensor, fake_scores: torch.Tensor, w: LossWeights
) -> torch.Tensor:
    """``alpha * l1(output, target) + beta * (-mean(D(output)))``."""
    return w.alpha * F.l1_loss(output, target) - w.beta * fake_scores.mean()
