"""Time real training steps of each candidate setting, giving up early on clear losers.

Why early: on a CPU whose bf16 kernels are slow (an AMD EPYC measured bf16 8x slower than
float32), timing full steps of every candidate would cost more than some whole runs. So a
candidate's step is abandoned mid-way, from a forward pre-hook on its modules, as soon as it
has taken ``GIVE_UP`` times the best step so far (``GIVE_UP_WARMUP`` times the reference's
first step, for first steps): a slow candidate costs about one reference step, not eight.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn

GIVE_UP = 1.5  # a step this many times the best one so far is clearly slower
GIVE_UP_WARMUP = 3.0  # first steps build kernels and optimiser state: a looser bound
STEPS = 2  # timed steps after the first, per candidate; the fastest counts

S = TypeVar("S")
# Build a candidate: its module (whose forward calls are watched) and one training step.
Builder = Callable[[S], tuple[nn.Module, Callable[[], None]]]


class _TooSlow(Exception):
    """Raised inside a step that has passed its deadline."""


@dataclass(frozen=True)
class Trial(Generic[S]):
    """One candidate's timing: its fastest timed step (inf if given up) and the probe time."""

    settings: S
    seconds: float
    spent: float

    @property
    def gave_up(self) -> bool:
        return math.isinf(self.seconds)


@contextlib.contextmanager
def _deadline(module: nn.Module, at: float) -> Iterator[None]:
    """Every module call inside checks the clock (installed for every candidate alike, so the
    hooks' small cost falls on all of them)."""

    def check(*_: object) -> None:
        if time.perf_counter() > at:
            raise _TooSlow

    handles = [m.register_forward_pre_hook(check) for m in module.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _timed(
    module: nn.Module, step: Callable[[], None], limit: float, device: torch.device
) -> float:
    """Seconds of one step, or inf if it ran past ``limit`` seconds."""
    start = time.perf_counter()
    try:
        with _deadline(module, start + limit):
            step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    except _TooSlow:
        return math.inf
    elapsed = time.perf_counter() - start
    return elapsed if elapsed <= limit else math.inf


def time_candidates(
    candidates: Sequence[S], build: Builder[S], device: torch.device, steps: int = STEPS
) -> list[Trial[S]]:
    """Each candidate in order (the first is the reference): one first step, then ``steps``
    timed ones, each abandoned once clearly slower than the best so far."""
    trials: list[Trial[S]] = []
    best = first = math.inf
    for settings in candidates:
        started = time.perf_counter()
        module, step = build(settings)
        warm = _timed(module, step, GIVE_UP_WARMUP * first, device)
        seconds = math.inf
        if not math.isinf(warm):
            first = min(first, warm)
            for _ in range(steps):
                took = _timed(module, step, GIVE_UP * best, device)
                seconds = min(seconds, took)
                if math.isinf(took):
                    seconds = math.inf
                    break
        best = min(best, seconds)
        trials.append(Trial(settings, seconds, time.perf_counter() - started))
        del module, step
    return trials
