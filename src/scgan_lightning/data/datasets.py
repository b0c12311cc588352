"""Face datasets: unpaired HR x real LR for training, paired synthetic for validation.

Every dataset decodes each of its files once when it is built and drops the ones that fail, with
a warning naming them, so a bad file never reaches a DataLoader worker mid-epoch. All
randomness (LR pairing, flips, shuffling) is a pure function of ``(seed, epoch, index)``: items
do not depend on the worker count, the worker that loads them, or the order they are loaded in.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..checks import check_scale
from ..errors import UserError
from ..imaging import read_face, read_rgb
from .degradation import degrade_images, image_seed, load_degradation

log = logging.getLogger(__name__)

# Tags that keep the random streams (HR order, LR order, flips) apart. Keys have a fixed length
# of 4 words because numpy's SeedSequence treats missing words as zeros.
_HR_ORDER, _LR_ORDER, _FLIPS = 0, 1, 2
_SUMMARY_NAMES = 20
_SCAN_THREADS = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of a dataset because it cannot be decoded."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


def _decode_problem(path: Path) -> str | None:
    try:
        read_rgb(path)
    except Exception as err:  # a hostile file must never stop the scan, whatever PIL raises
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        # The path is listed next to the reason; PIL's messages repeat it, quoted.
        return message.removeprefix(f"{path}: ").replace(f" {str(path)!r}", "")
    return None


def scan_images(
    files: Iterable[str | os.PathLike], limit: int | None = None
) -> tuple[list[Path], list[SkippedFile]]:
    """Decode ``files`` (in threads) and split them into usable ones and skipped ones.

    Order is kept. With ``limit``, scanning stops once that many usable files are found.
    """
    paths = [Path(f) for f in files]
    usable: list[Path] = []
    skipped: list[SkippedFile] = []
    with ThreadPoolExecutor(_SCAN_THREADS) as pool:
        for path, problem in zip(paths, pool.map(_decode_problem, paths), strict=True):
            if problem is None:
                usable.append(path)
            else:
                skipped.append(SkippedFile(path, problem))
            if limit is not None and len(usable) >= limit:
                pool.shutdown(cancel_futures=True)
                break
    return usable, skipped


def summarize_skipped(skipped: Sequence[SkippedFile]) -> str:
    """One line per skipped file (the first 20), for logs and error messages."""
    if not skipped:
        return "no files skipped"
    lines = [f"skipped {len(skipped)} unreadable image file(s):"]
    lines += [f"  {item}" for item in skipped[:_SUMMARY_NAMES]]
    if len(skipped) > _SUMMARY_NAMES:
        lines.append(f"  ... and {len(skipped) - _SUMMARY_NAMES} more")
    return "\n".join(lines)


def _usable(
    files: Iterable[str | os.PathLike], what: str, limit: int | None = None
) -> tuple[list[Path], list[SkippedFile]]:
    """Scan, warn about skipped files and refuse a set with no usable image."""
    paths = list(files)
    if not paths:
        raise UserError(f"no {what} image files given")
    usable, skipped = scan_images(paths, limit)
    if skipped:
        log.warning("%s images: %s", what, summarize_skipped(skipped))
    if not usable:
        folders = ", ".join(sorted({str(Path(p).parent) for p in paths})[:3])
        detail = f"; first problem: {skipped[0]}" if skipped else ""
        raise UserError(f"no readable {what} image among {len(paths)} file(s) in {folders}{detail}")
    return usable, skipped


@functools.lru_cache(maxsize=4)
def _lr_order(seed: int, block: int, count: int) -> np.ndarray:
    """The ``block``-th shuffle of the LR list (cached: consecutive items share a block)."""
    return np.random.default_rng([seed, _LR_ORDER, block, 0]).permutation(count)


class ItemDraw(NamedTuple):
    """The random choices behind one training item."""

    lr_index: int
    flip_hr: bool
    flip_lr: bool


class EpochShuffleSampler(Sampler[tuple[int, int]]):
    """Seeded shuffle that yields ``(index, epoch)`` keys.

    Lightning calls ``set_epoch`` on a train sampler before every epoch (also through its DDP
    sampler wrapper, and with the right epoch after a resume). Passing the epoch inside the key
    makes each item's pairing follow the epoch even in persistent worker processes, whose copy
    of the dataset never sees ``set_epoch``.
    """

    def __init__(self, num_items: int, seed: int = 0, shuffle: bool = True) -> None:
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_items

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.arange(self.num_items)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, _HR_ORDER, self.epoch, 0])
            order = rng.permutation(self.num_items)
        return ((int(index), self.epoch) for index in order)


def augmented(
    hr: torch.Tensor,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    seed: int,
    epoch: int,
    index: int,
) -> torch.Tensor:
    """``augment`` of HR face ``index`` in ``epoch``, drawn from ``(seed, epoch, index)`` only,
    so a resumed run and every worker draw what an unbroken one would."""
    rng = torch.Generator().manual_seed(image_seed(seed, f"augment/{epoch}/{index}"))
    return augment(hr, rng).clamp(-1.0, 1.0)


class UnpairedFaceDataset(Dataset):
    """Item i: HR face i with a random real LR face, re-drawn every epoch.

    Keys are an index (uses the epoch from ``set_epoch``) or ``(index, epoch)`` from
    :class:`EpochShuffleSampler`. As in the released code, LR faces are drawn without
    replacement from a shuffled LR list that is reshuffled when exhausted: item i of epoch e
    takes position ``e * len(hr) + i`` of that endless list, so every LR face is used equally
    often and the choice depends on ``(seed, epoch, index)`` only.

    ``hr_augment`` (a content shift, ``data/content``) changes each HR face, drawn per
    ``(seed, epoch, index)``, towards the LR faces' population (framing, light, greyscale), so
    that what separates the two domains is their degradation rather than what they show.
    """

    def __init__(
        self,
        hr_files: Iterable[str | os.PathLike],
        lr_files: Iterable[str | os.PathLike],
        hr_size: int = 64,
        scale: int = 4,
        flip: bool = False,
        seed: int = 0,
        hr_augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    ) -> None:
        self.hr_size = hr_size
        self.lr_size = check_scale(hr_size, scale)
        self.flip = flip
        self.seed = seed
        self.hr_augment = hr_augment
        self.epoch = 0
        self.files, hr_skipped = _usable(hr_files, "HR")
        self.lr_files, lr_skipped = _usable(lr_files, "LR")
        self.skipped = hr_skipped + lr_skipped

    @property
    def skipped_summary(self) -> str:
        return summarize_skipped(self.skipped)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def draw(self, index: int, epoch: int) -> ItemDraw:
        """The LR partner and flips of item ``index`` in ``epoch``."""
        block, offset = divmod(epoch * len(self.files) + index, len(self.lr_files))
        lr_index = int(_lr_order(self.seed, block, len(self.lr_files))[offset])
        if not self.flip:
            return ItemDraw(lr_index, False, False)
        flip_hr, flip_lr = np.random.default_rng([self.seed, _FLIPS, epoch, index]).random(2) < 0.5
        return ItemDraw(lr_index, bool(flip_hr), bool(flip_lr))

    def read_hr(self, index: int) -> torch.Tensor:
        return read_face(self.files[index], self.hr_size)

    def read_lr(self, index: int) -> torch.Tensor:
        return read_face(self.lr_files[index], self.lr_size, square=False)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        choice = self.draw(index, epoch)
        hr, lr = self.read_hr(index), self.read_lr(choice.lr_index)
        if self.hr_augment is not None:
            hr = augmented(hr, self.hr_augment, self.seed, epoch, index)
        return {
            "hr": hr.flip(-1) if choice.flip_hr else hr,
            "lr": lr.flip(-1) if choice.flip_lr else lr,
        }


class PairedSyntheticDataset(Dataset):
    """HR faces with LR made from them by a fixed degradation, for PSNR/SSIM validation.

    Image ``name`` degrades with the generator seeded from ``(seed, name)``, so every run
    validates on the same pairs, whatever the batch, ``max_items`` or the order, and
    ``evaluate`` scores the pairs validation scored. ``degradation`` is a preset name, a
    config or a callable (``data.degradation``). ``max_items`` keeps the first usable files.
    """

    def __init__(
        self,
        hr_files: Iterable[str | os.PathLike],
        hr_size: int = 64,
        scale: int = 4,
        degradation: Any = "avgpool",
        max_items: int | None = None,
        seed: int = 0,
    ) -> None:
        self.hr_size = hr_size
        self.scale = scale
        self.seed = seed
        check_scale(hr_size, scale)
        self.degradation = load_degradation(degradation)
        self.files, self.skipped = _usable(hr_files, "validation HR", max_items)

    @property
    def skipped_summary(self) -> str:
        return summarize_skipped(self.skipped)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        hr = read_face(self.files[index], self.hr_size)
        name = self.files[index].name
        return {
            "hr": hr,
            "lr": degrade_images(self.degradation, hr[None], self.scale, [name], self.seed)[0],
        }


class PairedFolderDataset(Dataset):
    """HR faces with the LR faces of the same file name in ``lr_dir``: the paired validation
    half of a controlled set (``val/hr`` + ``val/lr``), whose LR was made once, on disk."""

    def __init__(
        self,
        hr_files: Iterable[str | os.PathLike],
        lr_dir: str | os.PathLike,
        hr_size: int = 64,
        scale: int = 4,
        max_items: int | None = None,
    ) -> None:
        self.hr_size = hr_size
        self.lr_size = check_scale(hr_size, scale)
        self.files, self.skipped = _usable(hr_files, "validation HR", max_items)
        lr_dir = Path(lr_dir)
        self.lr_files = [lr_dir / path.name for path in self.files]
        missing = [str(p) for p in self.lr_files if not p.is_file()]
        if missing:
            raise UserError(
                f"data.val_lr_dir: {len(missing)} validation HR face(s) have no LR of the same "
                f"name, e.g. {missing[0]}"
            )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        hr = read_face(self.files[index], self.hr_size)
        return {"hr": hr, "lr": read_face(self.lr_files[index], self.lr_size, square=False)}


class DegradedPairsDataset(Dataset):
    """Supervised pairs (degradation(HR), HR), drawn afresh for every ``(index, epoch)``: the
    naive baseline (``avgpool``) and the oracle (the true chain) train on these.

    ``hr_augment`` changes each HR face before it is degraded, drawn as
    :class:`UnpairedFaceDataset` draws it, so that an oracle can be given the augmentation an
    SCGAN run was given and stay its upper bound."""

    def __init__(
        self,
        hr_files: Iterable[str | os.PathLike],
        degradation: Any,
        hr_size: int = 64,
        scale: int = 4,
        flip: bool = False,
        seed: int = 0,
        hr_augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    ) -> None:
        self.hr_size = hr_size
        self.scale = scale
        check_scale(hr_size, scale)
        self.flip = flip
        self.seed = seed
        self.hr_augment = hr_augment
        self.epoch = 0
        self.degradation = load_degradation(degradation)
        self.files, self.skipped = _usable(hr_files, "HR")
        self.lr_files = self.files  # what the DataModule counts as the LR side

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        hr = read_face(self.files[index], self.hr_size)
        if self.hr_augment is not None:
            hr = augmented(hr, self.hr_augment, self.seed, epoch, index)
        if self.flip and np.random.default_rng([self.seed, _FLIPS, epoch, index]).random() < 0.5:
            hr = hr.flip(-1)
        key_name = f"{epoch}/{self.files[index].name}"
        lr = degrade_images(self.degradation, hr[None], self.scale, [key_name], self.seed)[0]
        return {"hr": hr, "lr": lr}
