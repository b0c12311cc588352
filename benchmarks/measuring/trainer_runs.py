"""The module trained by a real ``pl.Trainer`` and timed by callbacks: in this process on
fixed batches (``fit_module`` with ``StepTimer``), or inside ``python -m scgan_lightning.train``
(``RunTimer``, given to the command as a callback)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from scgan_lightning.released import released_networks
from scgan_lightning.training.module import GENERATORS, SCGANModule

from .batches import HR_SIZE, SCALE, SEED, FixedBatches
from .machine import peak_memory_mib


class StepTimer(pl.Callback):
    """Wall time of each training batch (the whole ``training_step``: forward, backward, Adam)
    and of the window from batch ``warmup`` to the end of training.

    ``sync``: wait for the GPU at both ends of the window only (never per step, which would
    hide the host running ahead), and reset the peak-memory counter at its start, so the
    window's time and ``peak_memory_mib`` belong to the timed steps. Per-batch times are
    meaningful on the CPU only.
    """

    def __init__(self, warmup: int = 0, sync: bool = False) -> None:
        self.warmup, self.sync = warmup, sync
        self.times: list[float] = []
        self.losses: list[dict[str, float]] = []
        self.window_s = math.nan
        self.window_steps = 0
        self._start = self._window_start = 0.0

    def _synchronize(self) -> None:
        if self.sync:
            torch.cuda.synchronize()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == self.warmup:
            self._synchronize()
            if self.sync:
                torch.cuda.reset_peak_memory_stats()
            self._window_start = time.perf_counter()
        self._start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.times.append(time.perf_counter() - self._start)
        self.window_steps += batch_idx >= self.warmup
        if isinstance(outputs, dict) and not self.sync:
            self.losses.append({k: float(v) for k, v in outputs.items()})

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._synchronize()
        self.window_s = time.perf_counter() - self._window_start


def build_module(
    width: float,
    *,
    channels_last: bool = False,
    adam_impl: str = "default",
    compile_mode: str | None = None,
) -> SCGANModule:
    """The module as a user configures it; ``compile_mode`` compiles the generators' forward.

    Generators only: compiled discriminators fail in backward ("modified by an inplace
    operation"), the spectral norm's in-place u/v updates clash with the traced graph.
    """
    torch.manual_seed(SEED)
    module = SCGANModule(
        **released_networks(width),
        hr_size=HR_SIZE,
        scale=SCALE,
        channels_last=channels_last,
        adam_impl=adam_impl,
    )
    if compile_mode is not None:
        for name in GENERATORS:
            getattr(module, name).compile(mode=compile_mode)
    return module


def fit_module(
    module: SCGANModule,
    batches: Sequence[dict],
    precision: str,
    *,
    accelerator: str = "cpu",
    callbacks: Sequence[pl.Callback] = (),
    warmup: int = 0,
) -> StepTimer:
    """One epoch over ``batches`` with a real Trainer; returns its timer.

    Each step's noise is the batch's ``z``, so runs over the same batches see the same input.
    """
    timer = StepTimer(warmup, sync=accelerator == "gpu")
    noise = iter([batch["z"] for batch in batches])
    module.sample_noise = lambda batch_size, device: next(noise).to(device)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_epochs=1,
        logger=False,
        log_every_n_steps=10_000,  # no logging step (a host read) among the timed ones
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer, *callbacks],
    )
    loader = DataLoader(FixedBatches(batches), batch_size=None, pin_memory=accelerator == "gpu")
    trainer.fit(module, train_dataloaders=loader)
    return timer


class RunTimer(pl.Callback):
    """Given to ``python -m scgan_lightning.train`` as a callback (``+callbacks.run_timer``):
    the window from batch ``warmup`` to the end of training, timed between two device syncs
    only, its peak memory, and every step's losses (kept as device tensors, read at the end, so
    the timed steps make no host read), written as JSON to ``path``."""

    def __init__(self, path: str, warmup: int = 10) -> None:
        self.path, self.warmup = Path(path), warmup
        self.losses: list[dict[str, torch.Tensor]] = []
        self._start = math.nan
        self._steps = 0
        self._batch = 0
        self.batch_size = 0

    def _sync(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._batch == self.warmup:
            self._sync(pl_module.device)
            if pl_module.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(pl_module.device)
            self._start = time.perf_counter()
        self._batch += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._steps += self._batch > self.warmup
        if isinstance(outputs, dict):
            self.losses.append({k: v.detach().clone() for k, v in outputs.items()})
        self.batch_size = batch["hr"].shape[0]

    def on_train_end(self, trainer, pl_module) -> None:
        self._sync(pl_module.device)
        seconds = time.perf_counter() - self._start
        device = pl_module.device.type
        self.path.write_text(
            json.dumps(
                {
                    "timed_steps": self._steps,
                    "seconds": seconds,
                    "images_per_s": self._steps * self.batch_size / seconds,
                    "peak_memory_mib": peak_memory_mib(device),
                    "losses": [{k: float(v) for k, v in s.items()} for s in self.losses],
                }
            )
        )
