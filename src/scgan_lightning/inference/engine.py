"""The restore engine: the one place a batch of LR faces goes through the network.

Device and batch size are fixed when the engine is built, and so are its settings (float32 or
bf16 autocast, NCHW or channels-last), unless a ``Tuner`` is given: then the first full batches
run under each candidate in turn while they are timed (they are real work: their faces come
back restored), and every batch after under the choice. ``restore`` splits any number of faces
into batches.
"""

from __future__ import annotations

import contextlib
import time

import torch
from torch import nn

from ..autotune import Settings, Tuner


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
    """A restorer in eval mode on ``device`` with a batch size and run settings, fixed or
    being chosen by ``tuner``."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device | str = "cpu",
        settings: Settings | None = None,
        batch_size: int = 16,
        scale: int = 4,
        tuner: Tuner | None = None,
    ) -> None:
        if tuner is not None and tuner.choice is not None:
            settings, tuner = tuner.choice, None
        self.tuner = tuner
        self.batch_size = batch_size
        self.scale = scale
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.settings = Settings()
        self._use(settings or Settings(), force=True)

    def _use(self, settings: Settings, force: bool = False) -> None:
        """Run the next batches under ``settings`` (the model converted to its layout)."""
        if force or settings.channels_last != self.settings.channels_last:
            layout = torch.channels_last if settings.channels_last else torch.contiguous_format
            self.model.to(memory_format=layout)
        self.settings = settings

    def restore(self, lr: torch.Tensor) -> torch.Tensor:
        """SR of ``lr`` (N,3,h,w) in [-1, 1], float32 on the CPU, ``batch_size`` at a time."""
        if len(lr) == 0:
            return lr.new_empty(0, 3, lr.shape[-2] * self.scale, lr.shape[-1] * self.scale)
        return torch.cat([self._restore_part(part) for part in lr.split(self.batch_size)])

    def _restore_part(self, lr: torch.Tensor) -> torch.Tensor:
        if self.tuner is None:
            return self._run(lr, self.settings)
        self._use(self.tuner.current())
        start = time.perf_counter()
        sr = self._run(lr, self.settings)  # on the CPU: the device has finished
        self.tuner.record(time.perf_counter() - start, len(lr))
        if self.tuner.choice is not None:
            self._use(self.tuner.choice)
            self.tuner = None
        return sr

    def _run(self, lr: torch.Tensor, settings: Settings) -> torch.Tensor:
        return restore_batch(self.model, lr, settings.precision, settings.channels_last).cpu()
