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
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader

from ..checks import check_scale
from ..errors import UserError
from .content.registry import load_content_shift
from .controlled import CLEAN_LR_PART, build_controlled_set
from .datasets import (
    DegradedPairsDataset,
    EpochShuffleSampler,
    PairedFolderDataset,
    PairedSyntheticDataset,
    SkippedFile,
    UnpairedFaceDataset,
    summarize_skipped,
)
from .degradation import describe, load_degradation
from .device_set import DeviceFaceBatches
from .folders import PathArg, folder_images
from .workers import ignore_preemption_signals

log = logging.getLogger(__name__)

TRAIN_PAIRS = ("unpaired", "degraded_hr")


def plain(value: Any) -> Any:
    """OmegaConf nodes as plain containers: hyper-parameters must load with weights_only=True."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _require(key: str, value: PathArg, count: int, needed: int, why: str) -> None:
    if count < needed:
        raise UserError(
            f"data.{key}: only {count} readable image(s) in {value}; need at least {needed} ({why})"
        )


class FaceDataModule(pl.LightningDataModule):
    """Unpaired HR x real-LR training batches and paired validation batches.

    Batches are dicts: train ``{"hr": (B,3,S,S), "lr": (B,3,S/scale,S/scale)}``: with
    ``train_pairs="unpaired"`` (SCGAN) ``lr`` is a random face of ``lr_dir``; with
    ``"degraded_hr"`` (the supervised baselines) it is ``train_degradation`` of that ``hr``.
    Validation pairs each HR face with the LR of the same name in ``val_lr_dir``, or else with
    ``val_degradation`` of it (a preset name, a config or a callable). Files are decoded once at
    setup; unreadable ones are skipped and listed in ``skipped_files`` / ``skipped_summary``.
    ``hr_augment`` (a content shift: preset name, config or callable) changes the HR faces
    towards the LR population's framing and light, before they are degraded in
    ``degraded_hr`` pairs.
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
        val_degradation: Any = "avgpool",
        max_val_images: int | None = None,
        min_train_images: int = 2,
        pin_memory: bool = False,
        val_lr_dir: str | os.PathLike | None = None,
        train_pairs: str = "unpaired",
        train_degradation: Any = None,
        on_device: bool = False,
        hr_augment: Any = None,
    ) -> None:
        super().__init__()
        val_degradation, train_degradation = plain(val_degradation), plain(train_degradation)
        hr_augment = plain(hr_augment)
        self.save_hyperparameters()
        check_scale(hr_size, scale)
        if train_pairs not in TRAIN_PAIRS:
            raise UserError(f"data.train_pairs={train_pairs!r}: choose one of {TRAIN_PAIRS}")
        if train_pairs == "degraded_hr" and train_degradation is None:
            raise UserError("data.train_pairs=degraded_hr needs data.train_degradation")
        if on_device and train_pairs != "unpaired":
            raise UserError("data.on_device holds unpaired sets only (data.train_pairs=unpaired)")
        if hr_augment is not None and on_device:
            raise UserError("data.hr_augment applies to sets read from files, not data.on_device")
        self.hr_augment = load_content_shift(hr_augment) if hr_augment is not None else None
        self.val_degradation = load_degradation(val_degradation)
        for name, value in (("batch_size", batch_size), ("val_batch_size", val_batch_size)):
            if value < 1:
                raise UserError(f"data.{name} must be at least 1, got {value}")
        if max_val_images is not None and max_val_images < 1:
            raise UserError(f"data.max_val_images must be null or at least 1, got {max_val_images}")
        self.train_set: UnpairedFaceDataset | DegradedPairsDataset | None = None
        self.val_set: PairedSyntheticDataset | PairedFolderDataset | None = None

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
        built = False
        if stage in ("fit", None) and self.train_set is None:
            self.train_set = self._build_train()
            built = True
        if stage in ("fit", "validate", None) and self.val_set is None:
            self.val_set = self._build_val()
            built = True
        if built:
            rank_zero_info(self._report())

    def _build_val(self) -> PairedSyntheticDataset | PairedFolderDataset:
        hp = self.hparams
        files = folder_images("val_hr_dir", hp.val_hr_dir)
        if hp.val_lr_dir is not None:
            return PairedFolderDataset(
                files, hp.val_lr_dir, hp.hr_size, hp.scale, hp.max_val_images
            )
        return PairedSyntheticDataset(
            files, hp.hr_size, hp.scale, self.val_degradation, hp.max_val_images
        )

    def _build_train(self) -> UnpairedFaceDataset | DegradedPairsDataset:
        hp = self.hparams
        if hp.train_pairs == "degraded_hr":
            dataset = DegradedPairsDataset(
                folder_images("hr_dir", hp.hr_dir),
                hp.train_degradation,
                hp.hr_size,
                hp.scale,
                hp.flip,
                hp.seed,
                self.hr_augment,
            )
        else:
            dataset = UnpairedFaceDataset(
                folder_images("hr_dir", hp.hr_dir),
                folder_images("lr_dir", hp.lr_dir),
                hp.hr_size,
                hp.scale,
                hp.flip,
                hp.seed,
                self.hr_augment,
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
            made = "paired files" if self.hparams.val_lr_dir else describe(self.val_degradation)
            parts.append(f"val {len(self.val_set)} HR ({made})")
        skipped = len(self.skipped_files)
        note = f"; {skipped} unreadable file(s) skipped, see skipped_summary" if skipped else ""
        return f"FaceDataModule: {', '.join(parts)}{note}"

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        if self.train_set is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        if hp.on_device:
            return self._device_loader()
        return self._loader(
            self.train_set,
            batch_size=hp.batch_size,
            sampler=EpochShuffleSampler(len(self.train_set), hp.seed),
            drop_last=True,
        )

    def _device_loader(self) -> DataLoader:
        """``on_device``: the set decoded once onto the training device; whole batches drawn
        there (``device_set.py``), so the loader only hands out keys."""
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        batches = DeviceFaceBatches.from_folders(self.train_set, self.hparams.batch_size, device)
        rank_zero_info(f"training set on {device}: {len(batches)} batches an epoch, drawn there")
        sampler = EpochShuffleSampler(len(batches), self.hparams.seed, shuffle=False)
        return DataLoader(batches, batch_size=None, sampler=sampler, num_workers=0)

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


class ControlledFaceDataModule(FaceDataModule):
    """:class:`FaceDataModule` over a controlled unpaired set (``data/controlled.py``),
    built from ``sources`` into ``set_dir`` on first use (``prepare_data``, rank zero) and
    reused while its manifest matches. ``degradation`` makes the set's "real" LR half and its
    validation LR; the training step is never told it. ``train_pairs="degraded_hr"`` trains
    on (``train_degradation`` or, when null, the set's own degradation)(HR) pairs of the HR
    half instead: the naive baseline with ``avgpool``, the oracle with the true chain.

    ``content_shift`` (``data/content``) draws the LR half and the validation pairs from another
    population than the HR half: the content-gap track. Its oracle trains, as on the no-gap
    track, on the HR half (it knows the chain, not the LR faces' content); with
    ``train_hr="lr_clean"`` it trains on the LR population's own clean faces instead: the
    in-domain ceiling, which knows both.
    """

    def __init__(
        self,
        set_dir: str | os.PathLike,
        sources: Sequence[str | os.PathLike],
        degradation: Any,
        val_sources: Sequence[str | os.PathLike] = (),
        val_count: int = 400,
        split_seed: int = 0,
        train_pairs: str = "unpaired",
        train_degradation: Any = None,
        content_shift: Any = None,
        train_hr: str = "hr",
        **kwargs: Any,
    ) -> None:
        degradation, content_shift = plain(degradation), plain(content_shift)
        # Resolved here, in a local of this name: save_hyperparameters reads this frame too.
        train_degradation = plain(train_degradation)
        if train_degradation is None:
            train_degradation = degradation
        if train_hr not in ("hr", CLEAN_LR_PART):
            raise UserError(f"data.train_hr={train_hr!r}: choose hr or {CLEAN_LR_PART}")
        if train_hr == CLEAN_LR_PART and content_shift is None:
            raise UserError(f"data.train_hr={CLEAN_LR_PART} needs a content_shift set")
        self.set_dir = Path(set_dir)
        self.build_request = {
            "sources": [str(s) for s in plain(sources)],
            "val_sources": [str(s) for s in plain(val_sources)],
            "val_count": val_count,
            "seed": split_seed,
            "degradation": degradation,
            "content_shift": content_shift,
        }
        hr_part = train_hr if train_pairs == "degraded_hr" else "hr"
        super().__init__(
            hr_dir=str(self.set_dir / hr_part),
            lr_dir=str(self.set_dir / "lr"),
            val_hr_dir=str(self.set_dir / "val" / "hr"),
            val_lr_dir=str(self.set_dir / "val" / "lr"),
            train_pairs=train_pairs,
            train_degradation=train_degradation,
            **kwargs,
        )

    def prepare_data(self) -> None:
        """Build the set once; a folder holding a different set or other files is refused."""
        request = self.build_request
        recipe = {"degradation": request["degradation"]}
        shift = None
        if request["content_shift"] is not None:  # absent otherwise: no-gap sets stay valid
            recipe["content_shift"] = request["content_shift"]
            shift = load_content_shift(request["content_shift"])
        summary = build_controlled_set(
            request["sources"],
            self.set_dir,
            load_degradation(request["degradation"]),
            recipe,
            hr_size=self.hparams.hr_size,
            scale=self.hparams.scale,
            val_count=request["val_count"],
            seed=request["seed"],
            val_sources=request["val_sources"],
            content_shift=shift,
        )
        rank_zero_info(f"controlled set {summary.line()}")
