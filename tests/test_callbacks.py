"""Training callbacks tested in process: throughput logging, a signal during validation."""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers.logger import Logger

from scgan_lightning.training.callbacks import TrainingThroughput
from scgan_lightning.training.module import SCGANModule
from scgan_lightning.training.preemption import CheckpointOnSignal
from tests.train_runs import fit_in_memory, random_batches


class RecordingLogger(Logger):
    """Keeps every ``log_metrics`` call in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


def test_throughput_is_logged_once_per_window_whatever_log_every_n_steps():
    torch.manual_seed(0)
    batches = random_batches(7, size=3)
    logger = RecordingLogger()
    module = SCGANModule(width=0.125, pretrain_iterations=7)
    fit_in_memory(module, batches, callbacks=[TrainingThroughput(window=3)], logger=logger)
    rates = [m for _, m in logger.rows if "perf/images_per_sec" in m]
    # The first batch only starts the clock: 6 timed steps make two windows of 3.
    assert len(rates) == 2
    for row in rates:
        assert row["perf/images_per_sec"] == pytest.approx(3 * row["perf/iterations_per_sec"])
        assert row["perf/images_per_sec"] > 0


class SignalDuringValidation(pl.Callback):
    """Sends SIGUSR1 to this process in the middle of the first real validation."""

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGUSR1)


def test_signal_during_validation_still_saves_and_stops(tmp_path):
    torch.manual_seed(0)
    module = SCGANModule(width=0.125, pretrain_iterations=100)
    save = CheckpointOnSignal(dirpath=str(tmp_path))
    fit_in_memory(
        module,
        random_batches(4, size=3),
        callbacks=[save, SignalDuringValidation()],
        val_batches=random_batches(3, seed=1, size=3),
        max_epochs=3,
        val_check_interval=2,
        num_sanity_val_steps=1,
    )
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert checkpoint["scgan"]["iteration"] == 2  # saved after the validation at batch 2
    assert module.iteration == 2  # and no training batch ran after it
