"""Face prediction through ``Trainer.predict``, so one command can use several GPUs.

Each process restores its share of the files (Lightning splits the loader without repeats)
and writes them itself through the same ``FaceWriter`` as the direct path; each batch goes
through the job's ``FaceRestorer`` (run settings "32", NCHW), under Lightning's precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from .face_mode import FaceWriter
from .options import PredictOptions
from .restorer import FaceRestorer
from .writers import Summary

_PRECISION = {"32": "32-true", "bf16": "bf16-mixed"}


class RestorerPredictModule(pl.LightningModule):
    """A ``FaceRestorer`` as a LightningModule whose ``predict_step`` returns SR for a batch.

    Its network is registered here, so Lightning moves it to each process's device; the
    restorer runs batches wherever its network is.
    """

    def __init__(self, restorer: FaceRestorer) -> None:
        super().__init__()
        self.network = restorer.model
        self.face_restorer = restorer

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """``batch`` holds ``lr`` and ``path`` (plus ``index``, read ``errors`` and ``skips``)."""
        sr = self.face_restorer.restore_faces(batch["lr"]) if batch["index"] else None
        return {"sr": sr, "path": batch["path"]}


class SRPredictionWriter(BasePredictionWriter):
    """Writes each batch's SR images as soon as it is predicted; totals over all processes."""

    def __init__(self, writer: FaceWriter) -> None:
        super().__init__(write_interval="batch")
        self.writer = writer
        self._start = Summary()

    def on_predict_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        summary = self.writer.report.summary
        self._start = Summary(summary.done, summary.failed, summary.skipped)

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict[str, Any],
        batch_indices: Sequence[int] | None,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.writer.write_batch(batch, prediction["sr"])

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Sum this run's counts over processes so every process reports the whole job."""
        summary, start = self.writer.report.summary, self._start
        local = torch.tensor(
            [
                summary.done - start.done,
                summary.failed - start.failed,
                summary.skipped - start.skipped,
            ],
            device=pl_module.device,
        )
        total = trainer.strategy.reduce(local, reduce_op="sum").tolist()
        summary.done = start.done + int(total[0])
        summary.failed = start.failed + int(total[1])
        summary.skipped = start.skipped + int(total[2])


def _accelerator(device: str) -> str:
    return {"auto": "auto", "cpu": "cpu"}.get(device, "gpu")


def _devices(options: PredictOptions) -> int | str | list[int]:
    """``device=cuda:N`` names one GPU; otherwise ``devices`` says how many."""
    if options.device.startswith("cuda:"):
        return [int(options.device.split(":", 1)[1])]
    return options.devices


def predict_with_trainer(
    restorer: FaceRestorer, loader: DataLoader, writer: FaceWriter, options: PredictOptions
) -> Summary:
    """Restore the loader's face crops with ``Trainer.predict``; returns the job's summary.

    ``precision=auto`` means 32 here: Lightning applies one precision to the whole run.
    """
    precision = "32" if options.precision == "auto" else options.precision
    trainer = pl.Trainer(
        accelerator=_accelerator(options.device),
        devices=_devices(options),
        precision=_PRECISION[precision],
        callbacks=[SRPredictionWriter(writer)],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=options.progress,
    )
    trainer.predict(RestorerPredictModule(restorer), dataloaders=loader, return_predictions=False)
    return writer.report.summary
