"""The SCGAN objective: hinge adversarial terms and L1 consistency, as released."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..colour import rgb_to_ycbcr
from ..filters import gaussian_lowpass


@dataclass(frozen=True)
class LossWeights:
    """alpha: L1 content weight, beta: adversarial weight, theta/gamma: the two cycle terms.

    ``beta_degrader`` / ``beta_restorer`` override ``beta`` in the degraders' and the
    restorer's objectives (``None``: the released single ``beta``). At small widths the hinge
    term of a winning discriminator dwarfs the L1 term, so the two sides need their own weight.

    Two restorer terms beyond the released step, both off at 0: ``clean_anchor`` weighs an L1
    of G_RLS(avgpool(HR)) to HR, so that a restorer trained for a blurrier real domain does not
    harm clean inputs; ``real_lowpass_sigma`` (LR pixels) replaces the real-LR term's target
    (G_RLS of a real face against its bicubic, full band) by the restoration shrunk back
    (average pooling) against its input, both on the low band only: the face's tone and colour
    are kept without penalising the sharpening a real-world restorer must do (the low-band
    consistency measure, as a loss).
    """

    alpha: float = 1.0
    beta: float = 0.05
    theta: float = 1.0
    gamma: float = 0.05
    beta_degrader: float | None = None
    beta_restorer: float | None = None
    clean_anchor: float = 0.0
    real_lowpass_sigma: float = 0.0

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
    spectrum_normalize: bool = False  # compare the spectra's shapes only (a content gap)

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


def power_spectrum(images: torch.Tensor) -> torch.Tensor:
    """Mean power spectrum (3, h, w//2+1) of a batch's Y, Cb, Cr planes, image means removed.

    Blur, noise and JPEG each leave their mark on it (a fall-off, a floor, peaks at the 8-pixel
    block period, chroma cut by 4:2:0), and HR halves and LR halves drawn from one face pool
    share their content's spectrum, so matching it is a signal for the degradation alone.
    """
    ycc = rgb_to_ycbcr(images.float())
    ycc = ycc - ycc.mean(dim=(2, 3), keepdim=True)
    return torch.fft.rfft2(ycc, norm="ortho").abs().pow(2).mean(0)


def spectrum_distance(
    fake: torch.Tensor, real_spectrum: torch.Tensor, normalize: bool = False
) -> torch.Tensor:
    """Mean |log P_fake - log P_real|: G_DHL's outputs against the real LR faces' spectrum.

    ``normalize`` divides each plane's spectrum by its total power first, so only its shape
    counts: when the LR faces are darker, flatter or greyer than the HR ones (a content gap),
    their lower power is not read as blur.
    """
    eps = 1e-5
    fake_spectrum = power_spectrum(fake)
    if normalize:
        fake_spectrum = _shape_of(fake_spectrum)
        real_spectrum = _shape_of(real_spectrum)
    return (torch.log(fake_spectrum + eps) - torch.log(real_spectrum + eps)).abs().mean()


def _shape_of(spectrum: torch.Tensor) -> torch.Tensor:
    """Each plane's spectrum over its total power (times the bins, to keep the eps scale)."""
    bins = spectrum.shape[-1] * spectrum.shape[-2]
    return spectrum * bins / spectrum.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
