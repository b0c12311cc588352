"""Where training checkpoints are written: atomically on any filesystem, and a warning when the
run directory cannot hold a few of them.

Lightning's own writer saves to a temporary file in ``/tmp`` and moves it; when the run
directory is on another filesystem (NFS, Lustre, a small scratch disk) the move is a copy, and a
full disk or a kill during it leaves a truncated ``last.ckpt`` that looks valid.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from fsspec.utils import get_protocol
from lightning_fabric.utilities.types import _PATH
from pytorch_lightning.plugins.io import CheckpointIO, TorchCheckpointIO
from pytorch_lightning.utilities import rank_zero_only

from ..atomic import free_space, human_size, save_torch

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes go through ``atomic.save_torch``: every
    ``.ckpt`` (periodic, ``last.ckpt``, the preemption save) is the old file or the new one,
    and a full disk is a ``DiskFullError``. Remote URLs (``s3://``...) keep Lightning's writer."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or get_protocol(str(path)) not in ("file", "local"):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        save_torch(checkpoint, path)


def with_atomic_io(plugins: Iterable[Any] | None) -> list[Any]:
    """The trainer's plugins, with ``AtomicCheckpointIO`` unless the user chose a CheckpointIO."""
    plugins = list(plugins or [])
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    return plugins


def checkpoint_bytes(module: pl.LightningModule) -> int:
    """About the size of one training checkpoint: the module's state plus Adam's two moments
    per trainable parameter (the counters and hyper-parameters are small)."""
    state = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    moments = sum(2 * p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)
    return state + moments


class FreeSpaceCheck(pl.Callback):
    """At the start of fit, warns when the checkpoint folder cannot hold ``checkpoints`` more
    checkpoints: better told now than by a full disk hours into the run."""

    def __init__(self, checkpoints: int = 3) -> None:
        self.checkpoints = checkpoints

    @rank_zero_only
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
        folder = Path(dirpath or trainer.default_root_dir)
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None:
            return
        size = checkpoint_bytes(pl_module)
        free = free_space(existing)
        if free < self.checkpoints * size:
            log.warning(
                "%s: %s free, about %s per checkpoint: fewer than %d checkpoints fit, the run "
                "will stop when the disk is full",
                folder,
                human_size(free),
                human_size(size),
                self.checkpoints,
            )
