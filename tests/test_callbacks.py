"""Training callbacks tested in process: throughput logging, a signal during validation."""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers.logger import Logger

from scgan_lightning.training.callbacks import IterationCheckpoint, TrainingThroughput
from scgan_lightning.training.preemption import CheckpointOnSignal
from tests.train_runs import fit_in_memory, random_batches, scgan_module


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
    module = scgan_module(0.125, stages={"pretrain": 7})
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
    module = scgan_module(0.125, stages={"pretrain": 100})
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


def test_iteration_checkpoint_saves_every_n_iterations_not_optimiser_steps(tmp_path):
    saved = []

    class Record(IterationCheckpoint):
        def _save_checkpoint(self, trainer, filepath) -> None:
            saved.append(trainer.lightning_module.iteration)
            super()._save_checkpoint(trainer, filepath)

    checkpoint = Record(dirpath=str(tmp_path), every_n_iterations=2, save_top_k=-1)
    module = scgan_module(0.125, stages={"pretrain": 3, "semi_cycled": 3})
    fit_in_memory(module, random_batches(6), callbacks=[checkpoint], enable_checkpointing=True)
    # Iterations 1-3 take one optimiser step each, 4-6 two: global steps 1, 2, 3, 5, 7, 9.
    assert saved == [2, 4, 6]
