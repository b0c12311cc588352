"""Callbacks that the tests' subprocess training runs load by ``_target_`` (kept apart from
``train_runs``, whose import makes a temporary folder)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SignalOnOneRank(pl.Callback):
    """Sends SIGUSR1 to this process at one training batch of the first epoch, on one DDP rank
    only: a signal the other ranks never see."""

    def __init__(self, rank: int = 1, batch: int = 1) -> None:
        self.rank, self.batch = rank, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        first_epoch = trainer.current_epoch == 0
        if first_epoch and trainer.global_rank == self.rank and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGUSR1)
