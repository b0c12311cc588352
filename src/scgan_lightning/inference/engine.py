"""The restore engine: the one place a batch of LR faces goes through the network.

Device, precision (float32 or bf16 autocast) and memory layout (NCHW or channels-last) are
fixed when the engine is built; ``restore`` splits any number of faces into batches.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

PRECISIONS = ("32", "bf16")


@dataclass(frozen=True)
class RunSettings:
    """How the network runs: ``precision`` "32" or "bf16", and the memory layout."""

    precision: str = "32"
    channels_last: bool = False

    def label(self) -> str:
        layout = "channels-last" if self.channels_last else "NCHW"
        return f"{'float32' if self.precision == '32' else 'bf16'} {layout}"


def restore_batch(
    model: nn.Module, lr: torch.Tensor, precision: str = "32", channels_last: bool = False
) -> torch.Tensor:
    """SR for a batch of LR faces in [-1, 1], float32, on the model's device.

    ``bf16`` runs under autocast (convolutions in bfloat16, the rest in float32); "32" opens
    no autocast of its own, so a caller's (Lightning's precision plugin) still applies.
    ``channels_last`` hands the network NHWC input, to match a model converted to it.
    """
    weight = next(model.parameters(), None)  # a parameterless wrapper runs where lr is
    device = lr.device if weight is None else weight.device
    lr = lr.to(device, non_blocking=True)
    if channels_last:
        lr = lr.contiguous(memory_format=torch.channels_last)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        return model(lr).float()


class RestoreEngine:
    """A restorer in eval mode on ``device`` with fixed run settings and batch size."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device | str = "cpu",
        settings: RunSettings | None = None,
        batch_size: int = 16,
        scale: int = 4,
    ) -> None:
        self.settings = settings or RunSettings()
        self.batch_size = batch_size
        self.scale = scale
        self.device = torch.device(device)
        layout = torch.channels_last if self.settings.channels_last else torch.contiguous_format
        self.model = model.to(self.device).eval().to(memory_format=layout)

    def restore(self, lr: torch.Tensor) -> torch.Tensor:
        """SR of ``lr`` (N,3,h,w) in [-1, 1], float32 on the CPU, ``batch_size`` at a time."""
        if len(lr) == 0:
            return lr.new_empty(0, 3, lr.shape[-2] * self.scale, lr.shape[-1] * self.scale)
        parts = [
            restore_batch(
                self.model, part, self.settings.precision, self.settings.channels_last
            ).cpu()
            for part in lr.split(self.batch_size)
        ]
        return torch.cat(parts)
