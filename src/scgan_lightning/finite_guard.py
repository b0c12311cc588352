"""Skip a training step whose loss or gradients are NaN/inf, deciding on the device.

Why on the device: reading a flag on the host (``bool(tensor)``, ``.item()``) makes the CPU wait
for the GPU's queue to drain, every step. Here the decision stays a 0-dim bool tensor: the
update is applied as usual and then kept or discarded with ``torch.where`` (what GradScaler's
fused path does inside its kernels), and the skip counters are device tensors the host reads
only when asked (at logging steps and at the end of an epoch).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn.utils import get_total_norm


def all_finite(loss: torch.Tensor, tensors: Iterable[torch.Tensor] = ()) -> torch.Tensor:
    """0-dim bool on ``loss``'s device: the loss and every given tensor are finite.

    One fused norm over all tensors: a NaN or inf anywhere makes it NaN or inf.
    """
    ok = torch.isfinite(loss.detach()).all()
    tensors = list(tensors)
    if tensors:
        norm = get_total_norm(tensors, norm_type=float("inf"))
        ok = ok & torch.isfinite(norm.to(ok.device))
    return ok


class Snapshot:
    """Copies of some tensors, to put back in place wherever a step turns out non-finite.

    The copies are kept between steps (refilled, not reallocated): a fresh allocation of every
    weight and optimiser moment per step would cost page faults on the CPU.
    """

    def __init__(self) -> None:
        self._sources: list[torch.Tensor] = []
        self._copies: list[torch.Tensor] = []

    def take(self, tensors: Iterable[torch.Tensor]) -> None:
        sources = list(tensors)
        same = len(sources) == len(self._sources) and all(
            a is b for a, b in zip(sources, self._sources, strict=True)
        )
        if not same:
            self._sources = sources
            self._copies = [torch.empty_like(t) for t in sources]
        with torch.no_grad():
            for copy, source in zip(self._copies, sources, strict=True):
                copy.copy_(source)

    def keep_if(self, ok: torch.Tensor) -> None:
        """Leave each tensor as it is now where ``ok``, else put the copy back (no host sync).

        Tensors on another device than ``ok`` are left alone: moving the flag there would sync.
        """
        with torch.no_grad():
            for copy, source in zip(self._copies, self._sources, strict=True):
                if source.device == ok.device:
                    torch.where(ok, source, copy, out=source)


class GuardedOptimizer:
    """Runs ``optimizer.step()`` and keeps its update only where a device flag says so.

    Covers the parameters, the optimiser state that exists before the step, and state the
    step creates (Adam's moments on its first step): that is reset to zero, its initial value.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self._snapshot = Snapshot()

    def _tensors(self) -> list[torch.Tensor]:
        tensors: list[torch.Tensor] = []
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                tensors.append(param)
                state = self.optimizer.state.get(param, {})
                tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return tensors

    def step(self, ok: torch.Tensor) -> None:
        before = self._tensors()
        self._snapshot.take(before)
        self.optimizer.step()
        self._snapshot.keep_if(ok)
        known = {id(t) for t in before}
        with torch.no_grad():
            for tensor in self._tensors():
                if id(tensor) not in known and tensor.device == ok.device:
                    torch.where(ok, tensor, torch.zeros_like(tensor), out=tensor)


class NonFiniteCounter:
    """Skipped steps counted on the device; ``read()`` is the only host sync."""

    def __init__(self) -> None:
        self._total = torch.zeros((), dtype=torch.long)
        self._in_a_row = torch.zeros((), dtype=torch.long)
        self._longest = torch.zeros((), dtype=torch.long)

    def update(self, ok: torch.Tensor) -> None:
        if self._total.device != ok.device:
            self._total, self._in_a_row, self._longest = (
                t.to(ok.device) for t in (self._total, self._in_a_row, self._longest)
            )
        skipped = (~ok).long()
        self._total += skipped
        self._in_a_row = (self._in_a_row + skipped) * skipped
        self._longest = torch.maximum(self._longest, self._in_a_row)

    def read(self) -> tuple[int, int, int]:
        """(total skipped, skipped in a row now, longest run since ``forget_longest``)."""
        total, in_a_row, longest = torch.stack(
            [self._total, self._in_a_row, self._longest]
        ).tolist()
        return total, in_a_row, longest

    def forget_longest(self) -> None:
        """Start a new window for the longest run (the current run carries over)."""
        self._longest = self._in_a_row.clone()

    def load(self, total: int) -> None:
        """Resume: the total from a checkpoint; a run of skips does not span a restart."""
        self._total = torch.tensor(total, dtype=torch.long, device=self._total.device)
        self._in_a_row = torch.zeros_like(self._total)
        self._longest = torch.zeros_like(self._total)
