"""The unpaired training set held on the training device as uint8 tensors (``data.on_device``).

Why: on a GPU the SCGAN step is launch-bound, and a DataLoader that decodes, collates, pins and
copies every batch keeps the host busy between steps. 5k faces of 64x64x3 are 60 MB: they fit
on any GPU, so they are decoded once, moved once, and every batch is drawn there (the HR
order, the LR partners, the flips) with one generator on the device. The noise z is sampled on
the device by the module already. On the CPU the same code runs with ``device="cpu"`` (tests).

The draws are a pure function of ``(seed, epoch, batch index)``, as the folder dataset's are,
but not the same draws: LR partners are sampled with replacement here.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..imaging import to_uint8
from .datasets import UnpairedFaceDataset


def _uint8_nchw(images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """Decoded [-1, 1] faces back to their 8-bit values, NCHW, on ``device``."""
    return torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2).contiguous().to(device)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 faces -> float32 in [-1, 1], as ``imaging.to_tensor`` makes them."""
    return images.float().div_(127.5).sub_(1.0)


class DeviceFaceBatches(Dataset):
    """Item ``(b, epoch)`` (from ``EpochShuffleSampler``) or ``b``: the ``b``-th batch of
    ``epoch``, a dict of float ``hr`` (B,3,S,S) and ``lr`` (B,3,s,s) on the set's device."""

    def __init__(
        self,
        hr: torch.Tensor,
        lr: torch.Tensor,
        batch_size: int,
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        if hr.dtype != torch.uint8 or lr.dtype != torch.uint8:
            raise TypeError("DeviceFaceBatches holds uint8 faces")
        if len(hr) < batch_size:
            raise ValueError(f"{len(hr)} HR faces cannot fill one batch of {batch_size}")
        self.hr, self.lr = hr, lr
        self.batch_size, self.flip, self.seed = batch_size, flip, seed
        self._order: tuple[int, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def from_folders(
        cls, dataset: UnpairedFaceDataset, batch_size: int, device: torch.device | str
    ) -> DeviceFaceBatches:
        """Decode every face of ``dataset`` once and move them to ``device``."""
        hr = torch.stack([dataset.read_hr(i) for i in range(len(dataset.files))])
        lr = torch.stack([dataset.read_lr(i) for i in range(len(dataset.lr_files))])
        return cls(
            _uint8_nchw(hr, device), _uint8_nchw(lr, device), batch_size, dataset.flip, dataset.seed
        )

    @property
    def device(self) -> torch.device:
        return self.hr.device

    def __len__(self) -> int:
        return len(self.hr) // self.batch_size  # drop_last, as the folder loader

    def _epoch_draws(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's HR order and LR partners, drawn once per epoch on the device."""
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator(device=self.device).manual_seed(
                self.seed * 1_000_003 + epoch
            )
            order = torch.randperm(len(self.hr), generator=generator, device=self.device)
            partners = torch.randint(
                len(self.lr), (len(self.hr),), generator=generator, device=self.device
            )
            self._order = (epoch, order, partners)
        return self._order[1], self._order[2]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        order, partners = self._epoch_draws(epoch)
        rows = order[index * self.batch_size : (index + 1) * self.batch_size]
        hr, lr = to_float(self.hr[rows]), to_float(self.lr[partners[rows]])
        if self.flip:
            generator = torch.Generator(device=self.device).manual_seed(
                (self.seed * 1_000_003 + epoch) * 65_537 + index
            )
            flips = torch.rand(2, len(rows), 1, 1, 1, generator=generator, device=self.device)
            hr = torch.where(flips[0] < 0.5, hr.flip(-1), hr)
            lr = torch.where(flips[1] < 0.5, lr.flip(-1), lr)
        return {"hr": hr, "lr": lr}
