"""``trainer.precision=auto``, ``model.channels_last=auto``, ``model.adam_impl=auto``: the
training step's settings chosen per phase by timing the phase's first real steps.

Why per phase: a degrader-only step is another workload than the semi-cycled one, and a run
switches between them. Why a callback around the real steps: nothing runs twice (no module
copy, no second step outside Lightning), the steps timed train as every other step does, the
random stream is the one a plain run draws (the tuner draws nothing) and the run keeps its
configured number of steps. How the candidates are timed and chosen: ``autotune``.

A module asking for "auto" attaches this callback itself (``configure_callbacks``). Every rank
records rank zero's timings, so DDP replicas run the same setting at every step.
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch

from ..autotune import Tuner, cache_key, cached_choice


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class SpeedTuning(pl.Callback):
    """Applies each phase's settings before its steps: the candidate whose turn it is while
    the phase is being timed, then the choice (or the cached one from the start)."""

    def __init__(self) -> None:
        self.tuners: dict[str, Tuner] = {}  # per phase; benchmarks read how long each tuned
        self._timing: tuple[str, float, int] | None = None

    def _tuner(self, trainer: pl.Trainer, pl_module: Any, phase: str, size: int) -> Tuner:
        """The phase's tuner; rank zero reads the cache and every rank takes its answer."""
        if phase not in self.tuners:
            options = pl_module.requested_speed.candidates(pl_module.device)
            work = f"train, {phase} phase, batch {size}"
            key = cache_key(pl_module.device, pl_module, work, options)
            primary = trainer.is_global_zero
            choice = cached_choice(key, options) if primary and len(options) > 1 else None
            choice = trainer.strategy.broadcast(choice)
            self.tuners[phase] = Tuner(
                options, key, f"{phase} phase", "step", size, choice, primary=primary
            )
        return self.tuners[phase]

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: Any, batch: dict, batch_idx: int
    ) -> None:
        phase, size = pl_module.phase, len(batch["hr"])
        tuner = self._tuner(trainer, pl_module, phase, size)
        pl_module.apply_speed(tuner.current())
        self._timing = None
        if tuner.choice is None:
            _sync(pl_module.device)
            self._timing = (phase, time.perf_counter(), size)
        else:
            pl_module.speed_settings[phase] = tuner.choice

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: dict, batch_idx: int
    ) -> None:
        if self._timing is None:
            return
        phase, start, size = self._timing
        _sync(pl_module.device)
        tuner = self.tuners[phase]
        tuner.record(trainer.strategy.broadcast(time.perf_counter() - start), size)
        if tuner.choice is not None:
            pl_module.speed_settings[phase] = tuner.choice
        self._timing = None
