"""The released training step written plainly: the baseline every training figure is a
ratio to."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scgan_lightning.nets import NOISE_DIM, Degrader, Discriminator, Restorer
from scgan_lightning.training.module import DISCRIMINATORS, GENERATORS

from .batches import HR_SIZE, LR_SIZE, SCALE

ALPHA, BETA, THETA, GAMMA = 1.0, 0.05, 1.0, 0.05


def _hinge(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _g_term(output: torch.Tensor, target: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ALPHA * F.l1_loss(output, target) - BETA * fake.mean()


class ReleasedStep:
    """The released training step written plainly: what the module is measured against.

    Seven separate Adams; the four discriminator losses computed, each backpropagated, then
    each discriminator stepped; then each generator loss backpropagated (its gradients also
    landing in the discriminators, discarded at the next ``zero_grad``) and stepped in turn.
    """

    def __init__(self, width: float) -> None:
        self.g_dhl = Degrader(width, NOISE_DIM, HR_SIZE)
        self.g_rls = Restorer(width)
        self.g_dsl = Degrader(width, NOISE_DIM, HR_SIZE)
        self.d_l1 = Discriminator(LR_SIZE, width)
        self.d_l2 = Discriminator(LR_SIZE, width)
        self.d_h1 = Discriminator(HR_SIZE, width)
        self.d_h2 = Discriminator(HR_SIZE, width)
        self.nets: dict[str, nn.Module] = {n: getattr(self, n) for n in GENERATORS + DISCRIMINATORS}
        self.opts = {
            name: torch.optim.Adam(net.train().parameters(), lr=1e-4, betas=(0.9, 0.999))
            for name, net in self.nets.items()
        }

    def step(self, hr: torch.Tensor, lr: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
        """One released training step; returns the seven losses."""
        hr_down = F.avg_pool2d(hr, SCALE)
        lr_gen = self.g_dhl(hr, z)
        hr_gen = self.g_rls(lr_gen.detach())
        hr_gen_r = self.g_rls(lr)
        lr_real_2 = self.g_dsl(hr_gen_r.detach(), z)
        ups = F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=True)

        for name in DISCRIMINATORS:
            self.opts[name].zero_grad()
        d_losses = {
            "D_L1": _hinge(self.d_l1(lr), self.d_l1(lr_gen.detach())),
            "D_H1": _hinge(self.d_h1(hr), self.d_h1(hr_gen.detach())),
            "D_L2": _hinge(self.d_l2(lr), self.d_l2(lr_real_2.detach())),
            "D_H2": _hinge(self.d_h2(hr), self.d_h2(hr_gen_r.detach())),
        }
        for loss in d_losses.values():
            loss.backward()
        for name in DISCRIMINATORS:
            self.opts[name].step()

        self.opts["g_dhl"].zero_grad()
        g_dhl = _g_term(lr_gen, hr_down, self.d_l1(lr_gen))
        g_dhl.backward()
        self.opts["g_dhl"].step()

        self.opts["g_rls"].zero_grad()
        g_rls = THETA * _g_term(hr_gen, hr, self.d_h1(hr_gen)) + GAMMA * _g_term(
            ups, hr_gen_r, self.d_h2(hr_gen_r)
        )
        g_rls.backward()
        self.opts["g_rls"].step()

        self.opts["g_dsl"].zero_grad()
        g_dsl = _g_term(lr_real_2, lr, self.d_l2(lr_real_2))
        g_dsl.backward()
        self.opts["g_dsl"].step()

        losses = {**d_losses, "G_DHL": g_dhl, "G_RLS": g_rls, "G_DSL": g_dsl}
        return {k: float(v.detach()) for k, v in losses.items()}
