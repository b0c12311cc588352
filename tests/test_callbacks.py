"""Training callbacks that have no other test: throughput logging."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning.loggers.logger import Logger

from scgan_lightning.callbacks import TrainingThroughput
from scgan_lightning.module import SCGANModule
from tests.train_runs import fit_in_memory


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
    batches = [
        {
            "hr": torch.rand(3, 3, 64, 64) * 2 - 1,
            "lr": torch.rand(3, 3, 16, 16) * 2 - 1,
            "z": torch.randn(3, 1, 64),
        }
        for _ in range(7)
    ]
    logger = RecordingLogger()
    module = SCGANModule(width=0.125, pretrain_iterations=7)
    fit_in_memory(module, batches, callbacks=[TrainingThroughput(window=3)], logger=logger)
    rates = [m for _, m in logger.rows if "perf/images_per_sec" in m]
    # The first batch only starts the clock: 6 timed steps make two windows of 3.
    assert len(rates) == 2
    for row in rates:
        assert row["perf/images_per_sec"] == pytest.approx(3 * row["perf/iterations_per_sec"])
        assert row["perf/images_per_sec"] > 0
