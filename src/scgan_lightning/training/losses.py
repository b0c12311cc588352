"""The SCGAN objective: hinge adversarial terms and L1 consistency, as released."""

from __future__ import annotations

import dataclasses
import math
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


def gaussian_lowpass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (reflect padding) of (B,C,H,W): the low band of an image."""
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


@dataclass(frozen=True)
class DegraderLoss:
    """How G_DHL's output is compared with its target and shown to D_L1 / D_L2.

    Released: L1 to avgpool(HR) on the whole image, the discriminators see the image. With
    frequency separation (FSSR, DSGAN), the L1 sees only the low band (blur sigma
    ``lowpass_sigma`` LR pixels), so the avgpool target stops fighting blur, noise and JPEG,
    and the discriminators see only the high band (times ``highpass_gain``, so that their
    spectral-normalised layers get inputs of the size images have), where those live.
    """

    content: str = "avgpool"  # avgpool | lowpass
    gan_input: str = "image"  # image | highpass
    lowpass_sigma: float = 1.0
    highpass_gain: float = 4.0
    spectrum_weight: float = 0.0  # weight of :func:`spectrum_distance` in G_DHL's objective
    spectrum_momentum: float = 0.95  # EMA of the real LR spectrum over batches

    def __post_init__(self) -> None:
        if self.content not in ("avgpool", "lowpass"):
            raise ValueError(f"degrader_loss.content must be avgpool|lowpass, got {self.content}")
        if self.gan_input not in ("image", "highpass"):
            raise ValueError(
                f"degrader_loss.gan_input must be image|highpass, got {self.gan_input}"
            )

    def content_l1(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.content == "lowpass":
            sigma = self.lowpass_sigma
            return F.l1_loss(gaussian_lowpass(output, sigma), gaussian_lowpass(target, sigma))
        return F.l1_loss(output, target)

    def discriminator_input(self, images: torch.Tensor) -> torch.Tensor:
        if self.gan_input == "highpass":
            return self.highpass_gain * (images - gaussian_lowpass(images, self.lowpass_sigma))
        return images


def degrader_term(content: torch.Tensor, fake_scores: torch.Tensor, w: LossWeights) -> torch.Tensor:
    """``alpha * content - beta * mean(D)``: a degrader's objective, its content term given."""
    return w.alpha * content - w.beta * fake_scores.mean()


_RGB_TO_YCC = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def power_spectrum(images: torch.Tensor) -> torch.Tensor:
    """Mean power spectrum (3, h, w//2+1) of a batch's Y, Cb, Cr planes, image means removed.

    Blur, noise and JPEG each leave their mark on it (a fall-off, a floor, peaks at the 8-pixel
    block period, chroma cut by 4:2:0), and HR halves and LR halves drawn from one face pool
    share their content's spectrum, so matching it is a signal for the degradation alone.
    """
    ycc = torch.einsum("ij,bjhw->bihw", _RGB_TO_YCC.to(images), images.float())
    ycc = ycc - ycc.mean(dim=(2, 3), keepdim=True)
    return torch.fft.rfft2(ycc, norm="ortho").abs().pow(2).mean(0)


def spectrum_distance(fake: torch.Tensor, real_spectrum: torch.Tensor) -> torch.Tensor:
    """Mean |log P_fake - log P_real|: G_DHL's outputs against the real LR faces' spectrum."""
    eps = 1e-5
    return (torch.log(power_spectrum(fake) + eps) - torch.log(real_spectrum + eps)).abs().mean()
