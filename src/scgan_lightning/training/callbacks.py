"""Training callbacks: validation grids, the final ``restorer.pt``, parameter counts, speed.

Preemption (saving on SIGTERM/SIGUSR1) lives in ``preemption.py`` with the rest of its parts.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from ..atomic import write_text
from ..checkpoints import save_restorer
from ..errors import UserError
from ..grids import columns_grid
from ..imaging import save_png

log = logging.getLogger(__name__)

# Grid column -> the validation step's output it shows.
GRID_COLUMNS = {"LR": "lr", "restored": "sr", "HR": "hr"}


class ValidationGrid(pl.Callback):
    """Saves ``grids/val_<epoch>.png`` of fixed validation faces and sends it to the logger."""

    def __init__(self, num_faces: int = 8, dirname: str = "grids") -> None:
        self.num_faces = num_faces
        self.dirname = dirname
        self.last_path: Path | None = None

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx: int = 0
    ) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero:
            return
        n = self.num_faces
        faces = {name: outputs[key][:n] for name, key in GRID_COLUMNS.items()}
        grid = columns_grid(faces)
        path = (
            Path(trainer.default_root_dir) / self.dirname / f"val_{trainer.current_epoch:04d}.png"
        )
        save_png(grid, path)
        self.last_path = path
        for logger in trainer.loggers:
            _send_image(logger, "val/grid", path, grid, pl_module.iteration)


def _send_image(logger, key: str, path: Path, grid: Image.Image, step: int) -> None:
    """Each logger kind has its own image call; CSV has none (the PNG file is the record)."""
    if hasattr(logger, "log_image"):  # W&B
        logger.log_image(key=key, images=[str(path)], step=None)
    elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
        logger.experiment.add_image(key, np.asarray(grid), global_step=step, dataformats="HWC")


class RestorerCheckpoint(pl.Callback):
    """Writes ``restorer.pt`` ({"state_dict", "net", "config", "ema"}) when training ends.

    The light inference checkpoint that predict, evaluate and export read (the EMA restorer
    when EMA is on); ``export`` is the command that turns it into ONNX / TorchScript. With
    ``snapshots`` it also keeps the restorer of every validation as
    ``restorers/iter_NNNNNN.pt``: checkpoints along one run, which the real-LR measures are
    validated on (a run's later restorers should rank as its ground-truth scores do).
    """

    def __init__(self, filename: str = "restorer.pt", snapshots: bool = False) -> None:
        self.filename = filename
        self.snapshots = snapshots

    @rank_zero_only
    def on_train_end(self, trainer, pl_module) -> None:
        path = Path(trainer.default_root_dir) / self.filename
        ema = self._save(path, pl_module)
        log.info("restorer written to %s (ema=%s)", path, ema)

    @rank_zero_only
    def on_validation_end(self, trainer, pl_module) -> None:
        if self.snapshots and not trainer.sanity_checking:
            folder = Path(trainer.default_root_dir) / "restorers"
            self._save(folder / f"iter_{pl_module.iteration:06d}.pt", pl_module)

    @staticmethod
    def _save(path: Path, pl_module) -> bool:
        hp = pl_module.hparams
        config = {"hr_size": hp.hr_size, "scale": hp.scale, "iteration": pl_module.iteration}
        ema = pl_module.ema_rls is not None
        save_restorer(path, pl_module.inference_restorer, hp.net, config, ema=ema)
        return ema


class IterationCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that can save every ``every_n_iterations`` training iterations (the
    module's ``iteration``: batches), the unit every budget is counted in; Lightning's
    ``every_n_train_steps`` counts optimiser steps, of which a semi-cycled iteration takes two.
    Without ``every_n_iterations`` it is ``ModelCheckpoint`` as configured."""

    def __init__(self, every_n_iterations: int | None = None, **options) -> None:
        if every_n_iterations:
            if options.get("every_n_train_steps"):
                raise UserError("model_checkpoint: give every_n_iterations or every_n_train_steps")
            options.setdefault("every_n_epochs", 0)
        super().__init__(**options)
        self.every_n_iterations = every_n_iterations

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        every = self.every_n_iterations
        if not every:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        if pl_module.iteration % every or self._should_skip_saving_checkpoint(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and self.monitor not in candidates:
            return  # nothing to rank it by yet: the next validation's save takes it
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)


class LogParameterCounts(pl.Callback):
    """Logs the parameter count of every network once, as hyper-parameters."""

    def on_fit_start(self, trainer, pl_module) -> None:
        counts = {f"params/{k}": v for k, v in pl_module.parameter_counts().items()}
        for logger in trainer.loggers:
            logger.log_hyperparams(counts)


class TrainingThroughput(pl.Callback):
    """Logs ``perf/images_per_sec`` and ``perf/iterations_per_sec`` over windows of steps.

    Measured between consecutive batch ends, so data loading counts and the first (warm-up)
    step does not. Not Lightning's ``ThroughputMonitor``: that one calls
    ``torch.cuda.synchronize()`` after every training batch, the host sync the training step
    avoids. Without it, on a GPU the host runs ahead of the device by at most the queued work
    (about one step), so a window of many steps is measured to within that; and the module
    reads its values on the host at logging steps, which bounds the drift anyway.
    """

    def __init__(self, window: int = 50) -> None:
        self.window = window
        self._start: float | None = None
        self._images = 0
        self._steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._start is None:
            self._start = now
            return
        self._images += int(batch["hr"].shape[0]) * trainer.world_size
        self._steps += 1
        if self._steps < self.window:
            return
        elapsed = now - self._start
        rates = {
            "perf/images_per_sec": self._images / elapsed,
            "perf/iterations_per_sec": self._steps / elapsed,
        }
        # Straight to the loggers: self.log would drop windows that end off log_every_n_steps.
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(rates, step=trainer.global_step)
        self._start, self._images, self._steps = now, 0, 0

    def on_validation_end(self, trainer, pl_module) -> None:
        self._start, self._images, self._steps = None, 0, 0


class RankConsistencyCheck(pl.Callback):
    """At the end of fit, compares a float64 checksum of every rank's weights.

    DDP keeps replicas identical only if every gradient is synchronised; a parameter left out
    of the reduction drifts silently. This writes ``rank_checksums.json`` and logs an error if
    the ranks differ.
    """

    def __init__(self, filename: str = "rank_checksums.json") -> None:
        self.filename = filename

    def on_train_end(self, trainer, pl_module) -> None:
        with torch.no_grad():
            sums = [p.detach().double().sum() for p in pl_module.parameters()]
            squares = [p.detach().double().pow(2).sum() for p in pl_module.parameters()]
            local = torch.stack([torch.stack(sums).sum(), torch.stack(squares).sum()])
        gathered = trainer.strategy.all_gather(local).reshape(-1, 2).cpu()
        if not trainer.is_global_zero:
            return
        identical = bool((gathered == gathered[0]).all())
        report = {
            "world_size": int(gathered.shape[0]),
            "identical": identical,
            "checksums": gathered.tolist(),
        }
        path = Path(trainer.default_root_dir) / self.filename
        write_text(path, json.dumps(report, indent=2))
        if not identical:
            log.error("DDP ranks hold different weights: %s", report["checksums"])
