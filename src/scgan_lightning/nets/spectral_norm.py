"""Spectral normalisation with the semantics of the released SCGAN code.

Why not ``torch.nn.utils.parametrizations.spectral_norm``: the released layer runs its power
iteration v-first, and because it overwrites the stored ``u``/``v`` in place behind autograd's
back, the backward pass of ``sigma`` sees the vectors as they are *when backward runs*. A
discriminator called on real and then on fake before one backward therefore uses the second
call's vectors for both gradients. Reproducing that matches the released losses to 1e-6;
the torch-style behaviour (vectors frozen at forward time) is kept as an option.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_EPS = 1e-12


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / (x.norm() + _EPS)


class _Sigma(torch.autograd.Function):
    """``sigma = u . (W v)`` whose backward reads ``u``/``v`` lazily (or from a snapshot)."""

    @staticmethod
    def forward(ctx, weight_2d: torch.Tensor, u: torch.Tensor, v: torch.Tensor, live: bool):
        # Stored as plain attributes, not saved tensors: in-place power-iteration updates must
        # be visible to backward (released semantics) without tripping the version check.
        ctx.u, ctx.v = (u, v) if live else (u.clone(), v.clone())
        return torch.dot(u, torch.mv(weight_2d, v))

    @staticmethod
    def backward(ctx, grad_sigma: torch.Tensor):
        grad_w = grad_sigma * torch.outer(ctx.u, ctx.v)
        return grad_w, None, None, None


class SpectralNorm(nn.Module):
    """Wraps the weight of a conv or linear layer: ``weight / sigma(weight)``.

    The raw weight is the trainable ``weight_bar``; ``weight_u`` and ``weight_v`` are float32
    buffers updated by one power iteration per training-mode forward call.
    """

    def __init__(self, weight_shape: tuple[int, ...], released_backward: bool = True) -> None:
        super().__init__()
        out_features = weight_shape[0]
        in_features = 1
        for size in weight_shape[1:]:
            in_features *= size
        self.weight_bar = nn.Parameter(torch.empty(weight_shape))
        self.register_buffer("weight_u", _normalize(torch.randn(out_features)))
        self.register_buffer("weight_v", _normalize(torch.randn(in_features)))
        self.released_backward = released_backward

    def normalized_weight(self) -> torch.Tensor:
        """Run the power iteration (training mode only) and return ``W / sigma``."""
        weight = self.weight_bar
        with torch.autocast(device_type=weight.device.type, enabled=False):
            w2d = weight.float().reshape(weight.shape[0], -1)
            if self.training:
                with torch.no_grad():
                    self.weight_v.copy_(_normalize(torch.mv(w2d.t(), self.weight_u)))
                    self.weight_u.copy_(_normalize(torch.mv(w2d, self.weight_v)))
            sigma = _Sigma.apply(w2d, self.weight_u, self.weight_v, self.released_backward)
            return (weight.float() / sigma).to(weight.dtype)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints trained under mixed precision must still restore float32 vectors.
        for name in ("weight_u", "weight_v"):
            key = prefix + name
            if key in state_dict:
                state_dict[key] = state_dict[key].float()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class SNConv2d(nn.Module):
    """A spectrally normalised 2-D convolution (stride 1, 'same' padding)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, bias: bool, released_backward: bool = True
    ) -> None:
        super().__init__()
        self.sn = SpectralNorm((cout, cin, kernel, kernel), released_backward)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.padding = kernel // 2
        nn.init.kaiming_uniform_(self.sn.weight_bar, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.sn.normalized_weight(), self.bias, padding=self.padding)


class SNLinear(nn.Module):
    """A spectrally normalised linear layer."""

    def __init__(self, fin: int, fout: int, released_backward: bool = True) -> None:
        super().__init__()
        self.sn = SpectralNorm((fout, fin), released_backward)
        self.bias = nn.Parameter(torch.zeros(fout))
        nn.init.kaiming_uniform_(self.sn.weight_bar, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sn.normalized_weight(), self.bias)
