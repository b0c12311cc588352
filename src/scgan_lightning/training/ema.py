"""Exponential moving average of a network's parameters and buffers."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema_copy(network: nn.Module) -> nn.Module:
    """A frozen copy of ``network`` to hold the average."""
    ema = copy.deepcopy(network)
    for parameter in ema.parameters():
        parameter.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, network: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * network``; buffers (BatchNorm statistics) are copied."""
    for ema_param, param in zip(ema.parameters(), network.parameters(), strict=True):
        ema_param.lerp_(param.detach(), 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), network.buffers(), strict=True):
        ema_buffer.copy_(buffer)


def warmed_up_decay(decay: float, step: int) -> float:
    """``min(decay, (1 + step) / (10 + step))``: the average starts close to the live weights
    and reaches ``decay`` after about ``10 / (1 - decay)`` steps (the ramp of BasicSR / timm)."""
    return min(decay, (1.0 + step) / (10.0 + step))
