"""Training callbacks tested in process: throughput logging, preemption signals."""

from __future__ import annotations

import json
import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers.logger import Logger

from scgan_lightning.training.callbacks import IterationCheckpoint, TrainingThroughput
from scgan_lightning.training.preemption import PREEMPTED_MARKER, CheckpointOnSignal
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


class SignalAtBatch(pl.Callback):
    """Sends SIGUSR1 to this process as training batch ``batch`` of the first epoch starts."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 0 and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGUSR1)


def test_the_handler_a_signal_had_before_fit_runs_after_the_save(tmp_path):
    """submitit's requeue handler holds SIGUSR1 in a job: it must find the checkpoint saved."""
    calls = []

    def launcher_handler(signum, frame):
        calls.append((signum, (tmp_path / "last.ckpt").is_file()))

    before = signal.signal(signal.SIGUSR1, launcher_handler)
    try:
        torch.manual_seed(0)
        module = scgan_module(0.125, stages={"pretrain": 100})
        save = CheckpointOnSignal(dirpath=str(tmp_path))
        fit_in_memory(
            module, random_batches(4, size=3), callbacks=[save, SignalAtBatch(1)], max_epochs=2
        )
        assert signal.getsignal(signal.SIGUSR1) is launcher_handler  # given back after fit
    finally:
        signal.signal(signal.SIGUSR1, before)
    assert calls == [(signal.SIGUSR1, True)]
    assert module.iteration == 2  # saved after batch 1 (iteration 2), then stopped
    note = json.loads((tmp_path / PREEMPTED_MARKER).read_text())
    assert note == {"checkpoint": "last.ckpt", "signals": ["SIGUSR1"], "iteration": 2}


def test_a_run_that_finishes_clears_the_note_of_an_earlier_stop(tmp_path):
    (tmp_path / PREEMPTED_MARKER).write_text('{"checkpoint": "last.ckpt"}')
    module = scgan_module(0.125, stages={"pretrain": 100})
    fit_in_memory(module, random_batches(2, size=3), callbacks=[CheckpointOnSignal(str(tmp_path))])
    assert not (tmp_path / PREEMPTED_MARKER).exists()
