"""Skip a training step whose loss or gradients are NaN/inf, deciding on the device.

``StepGuard`` owns everything a skipped step must put back: the optimisers' parameters and
state, the restorer's BatchNorm statistics and the EMA restorer, and the skip counters.

Why on the device: reading a flag on the host (``bool(tensor)``, ``.item()``) makes the CPU wait
for the GPU's queue to drain, every step. Here the decision stays a 0-dim bool tensor: the
update is applied as usual and then kept or discarded with ``torch.where`` (what GradScaler's
fused path does inside its kernels), and the skip counters are device tensors the host reads
only when asked (at logging steps and at the end of an epoch).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

import torch
from torch.nn.utils import get_total_norm

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised after too many consecutive steps with NaN/inf losses or gradients."""


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


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter of ``optimizer`` and the state tensors it holds for them now."""
    tensors: list[torch.Tensor] = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            tensors.append(param)
            state = optimizer.state.get(param, {})
            tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return tensors


class StepGuard:
    """Keeps each part of a training step's update only where its device flag is true.

    A step goes: ``begin`` (copy the statistics a forward pass moves), one ``step`` per
    optimiser, ``end`` (put the statistics back if the step is skipped, count it), and the EMA
    update inside ``keep_ema_if``. ``check`` is the only host read, made at logging steps and
    epoch ends; it warns about new skips and stops a run of ``max_in_a_row``.
    """

    def __init__(self, max_in_a_row: int) -> None:
        self.max_in_a_row = max_in_a_row
        self.counter = NonFiniteCounter()
        self.seen = 0  # the total at the last host read, for warnings and checkpoints
        self._optimizers: dict[torch.optim.Optimizer, Snapshot] = {}
        self._statistics = Snapshot()
        self._ema = Snapshot()

    def begin(self, statistics: Iterable[torch.Tensor]) -> None:
        """Copy the tensors a forward pass changes outside any optimiser (BatchNorm buffers)."""
        self._statistics.take(statistics)

    def step(
        self,
        optimizer: torch.optim.Optimizer,
        loss: torch.Tensor,
        grads: Iterable[torch.Tensor] = (),
    ) -> torch.Tensor:
        """``optimizer.step()``, kept only if ``loss`` and ``grads`` are finite; returns the flag.

        Covers the parameters, the optimiser state that exists before the step, and state the
        step creates (Adam's moments on its first step): that is reset to zero, its initial
        value, so a skipped first step leaves the optimiser as if it had not run.
        """
        ok = all_finite(loss, grads)
        snapshot = self._optimizers.setdefault(optimizer, Snapshot())
        before = _optimizer_tensors(optimizer)
        snapshot.take(before)
        optimizer.step()
        snapshot.keep_if(ok)
        known = {id(t) for t in before}
        with torch.no_grad():
            for tensor in _optimizer_tensors(optimizer):
                if id(tensor) not in known and tensor.device == ok.device:
                    torch.where(ok, tensor, torch.zeros_like(tensor), out=tensor)
        return ok

    def end(self, ok: torch.Tensor) -> None:
        """Put back the statistics of a skipped step, and count it."""
        self._statistics.keep_if(ok)
        self.counter.update(ok)

    @contextlib.contextmanager
    def keep_ema_if(self, ok: torch.Tensor, tensors: Iterable[torch.Tensor]) -> Iterator[None]:
        """The EMA update made inside this block is kept only where ``ok``."""
        self._ema.take(tensors)
        yield
        self._ema.keep_if(ok)

    def check(self, iteration: int) -> None:
        """Read the counters (a host sync), warn about new skips, stop on a long run."""
        total, _, longest = self.counter.read()
        self.counter.forget_longest()
        new, self.seen = total - self.seen, total
        if new:
            log.warning(
                "iteration %d: %d step(s) with non-finite losses or gradients skipped since the "
                "last check (%d in a row at most)",
                iteration,
                new,
                longest,
            )
        if longest >= self.max_in_a_row:
            raise NonFiniteLossError(
                f"{longest} training steps in a row had NaN/inf losses or gradients; stopping "
                "(the last checkpoint holds the last good weights)"
            )

    @property
    def skipped_total(self) -> int:
        """Steps skipped so far (reads the device counter: not for use inside the step)."""
        return self.counter.read()[0]

    @property
    def skipped_in_a_row(self) -> int:
        """Steps skipped since the last finite one (reads the device counter)."""
        return self.counter.read()[1]

    def load(self, total: int) -> None:
        """Resume: the skip total from a checkpoint; a run of skips does not span a restart."""
        self.seen = total
        self.counter.load(total)
