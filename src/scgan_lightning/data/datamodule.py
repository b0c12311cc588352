"""FaceDataModule: folders of HR faces, real LR faces and validation HR faces -> DataLoaders.

Epoch-dependent pairing: the train DataLoader uses :class:`EpochShuffleSampler`, whose
``set_epoch`` Lightning calls before every epoch (through its DDP wrapper too, and with the
restored epoch on resume). The sampler hands ``(index, epoch)`` keys to the dataset, so neither
the LightningModule nor a ``worker_init_fn`` has to do anything: the items carry no worker-local
randomness, and persistent workers stay correct.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader

from ..checks import check_scale
from ..errors import UserError
from ..imaging import IMAGE_EXTENSIONS, list_images
from ..training.preemption import ignore_preemption_signals
from .datasets import (
    EpochShuffleSampler,
    PairedSyntheticDataset,
    SkippedFile,
    UnpairedFaceDataset,
    summarize_skipped,
)
from .degradations import check_kind

log = logging.getLogger(__name__)

PathArg = str | os.PathLike | Sequence[str | os.PathLike]


def folder_images(key: str, value: PathArg) -> list[Path]:
    """Image files under one folder or several (each sorted, in the order given).

    Raises a one-line UserError naming ``key`` and the folder when one is missing or has no
    images. Symbolic links to folders are not followed, so link loops cannot hang the listing.
    """
    folders = [value] if isinstance(value, str | os.PathLike) else list(value)
    if not folders:
        raise UserError(f"data.{key}: no folder given")
    files: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "folder not found"
            raise UserError(f"data.{key}: {problem}: {folder}")
        found = list_images(folder)
        if not found:
            raise UserError(
                f"data.{key}: no image files ({' '.join(IMAGE_EXTENSIONS)}) in {folder}"
            )
        files += found
    return files


def _require(key: str, value: PathArg, count: int, needed: int, why: str) -> None:
    if count < needed:
        raise UserError(
            f"data.{key}: only {count} readable image(s) in {value}; need at least {needed} ({why})"
        )


class FaceDataModule(pl.LightningDataModule):
    """Unpaired HR x real-LR training batches and paired synthetic validation batches.

    Batches are dicts: train ``{"hr": (B,3,S,S), "lr": (B,3,S/scale,S/scale)}``, validation the
    same with ``lr`` made from ``hr`` by ``val_degradation``. Files are decoded once at setup;
    unreadable ones are skipped and listed in ``skipped_files`` / ``skipped_summary``.
    """

    def __init__(
        self,
        hr_dir: PathArg,
        lr_dir: PathArg,
        val_hr_dir: PathArg,
        hr_size: int = 64,
        scale: int = 4,
        batch_size: int = 16,
        val_batch_size: int = 32,
        num_workers: int = 0,
        flip: bool = False,
        seed: int = 0,
        val_degradation: str = "avgpool",
        max_val_images: int | None = None,
        min_train_images: int = 2,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_scale(hr_size, scale)
        check_kind(val_degradation)
        for name, value in (("batch_size", batch_size), ("val_batch_size", val_batch_size)):
            if value < 1:
                raise UserError(f"data.{name} must be at least 1, got {value}")
        if max_val_images is not None and max_val_images < 1:
            raise UserError(f"data.max_val_images must be null or at least 1, got {max_val_images}")
        self.train_set: UnpairedFaceDataset | None = None
        self.val_set: PairedSyntheticDataset | None = None

    @property
    def skipped_files(self) -> list[SkippedFile]:
        """Every file left out so far, with the reason (once, when folders are shared)."""
        unique: dict[Path, SkippedFile] = {}
        for dataset in (self.train_set, self.val_set):
            for item in dataset.skipped if dataset is not None else ():
                unique.setdefault(item.path, item)
        return list(unique.values())

    @property
    def skipped_summary(self) -> str:
        return summarize_skipped(self.skipped_files)

    def setup(self, stage: str | None = None) -> None:
        """Scan the folders once (idempotent across fit/validate calls)."""
        hp = self.hparams
        built = False
        if stage in ("fit", None) and self.train_set is None:
            self.train_set = self._build_train()
            built = True
        if stage in ("fit", "validate", None) and self.val_set is None:
            self.val_set = PairedSyntheticDataset(
                folder_images("val_hr_dir", hp.val_hr_dir),
                hp.hr_size,
                hp.scale,
                hp.val_degradation,
                hp.max_val_images,
            )
            built = True
        if built:
            rank_zero_info(self._report())

    def _build_train(self) -> UnpairedFaceDataset:
        hp = self.hparams
        dataset = UnpairedFaceDataset(
            folder_images("hr_dir", hp.hr_dir),
            folder_images("lr_dir", hp.lr_dir),
            hp.hr_size,
            hp.scale,
            hp.flip,
            hp.seed,
        )
        # drop_last=True: fewer HR images than one batch would train on nothing, silently.
        hr_needed = max(hp.min_train_images, hp.batch_size)
        _require(
            "hr_dir",
            hp.hr_dir,
            len(dataset.files),
            hr_needed,
            f"min_train_images={hp.min_train_images}, batch_size={hp.batch_size}",
        )
        _require(
            "lr_dir",
            hp.lr_dir,
            len(dataset.lr_files),
            hp.min_train_images,
            f"min_train_images={hp.min_train_images}",
        )
        return dataset

    def _report(self) -> str:
        parts = []
        if self.train_set is not None:
            parts.append(f"train {len(self.train_set)} HR x {len(self.train_set.lr_files)} LR")
        if self.val_set is not None:
            parts.append(f"val {len(self.val_set)} HR ({self.hparams.val_degradation})")
        skipped = len(self.skipped_files)
        note = f"; {skipped} unreadable file(s) skipped, see skipped_summary" if skipped else ""
        return f"FaceDataModule: {', '.join(parts)}{note}"

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        if self.train_set is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        return self._loader(
            self.train_set,
            batch_size=hp.batch_size,
            sampler=EpochShuffleSampler(len(self.train_set), hp.seed),
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader:
        hp = self.hparams
        if self.val_set is None:
            raise RuntimeError("call setup('validate') before val_dataloader()")
        return self._loader(self.val_set, batch_size=hp.val_batch_size, shuffle=False)

    def _loader(self, dataset, **kwargs) -> DataLoader:
        """Persistent workers that leave preemption signals to the main process."""
        hp = self.hparams
        return DataLoader(
            dataset,
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.num_workers > 0,
            worker_init_fn=ignore_preemption_signals,
            **kwargs,
        )
