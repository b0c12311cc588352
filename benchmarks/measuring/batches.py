"""The inputs every benchmark shares: where the real faces are, the sizes and seed, and
fixed in-memory batches (data loading is never what a benchmark measures)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from scgan_lightning.imaging import list_images, read_face
from scgan_lightning.nets import NOISE_DIM

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SEED = 2020
HR_SIZE, SCALE = 64, 4
LR_SIZE = HR_SIZE // SCALE


def make_batches(count: int, batch: int, data: Path | None, seed: int = SEED) -> list[dict]:
    """``count`` fixed batches of real HR and real LR faces (random pixels if ``data`` is None
    or lacks them): data loading is not what is measured.

    Fixed z per batch, so every variant (and the bf16/fp32 fidelity pair) sees the same input.
    """
    generator = torch.Generator().manual_seed(seed)
    hr_files, lr_files = [], []
    if data is not None and (data / "faces_hr").is_dir() and (data / "faces_lr_real").is_dir():
        hr_files = list_images(data / "faces_hr" / "train")
        lr_files = list_images(data / "faces_lr_real")
    needed = count * batch
    batches = []
    for index in range(count):
        part = slice(index * batch, (index + 1) * batch)
        if len(hr_files) >= needed and len(lr_files) >= needed:
            hr = torch.stack([read_face(p, HR_SIZE) for p in hr_files[part]])
            lr = torch.stack([read_face(p, LR_SIZE, square=False) for p in lr_files[part]])
        else:
            hr = torch.rand(batch, 3, HR_SIZE, HR_SIZE, generator=generator) * 2 - 1
            lr = torch.rand(batch, 3, LR_SIZE, LR_SIZE, generator=generator) * 2 - 1
        z = torch.randn(batch, 1, NOISE_DIM, generator=generator)
        batches.append({"hr": hr, "lr": lr, "z": z})
    return batches


class FixedBatches(Dataset):
    """Already-collated batches for a ``DataLoader(batch_size=None)``: no loading in the loop."""

    def __init__(self, batches: Sequence[dict]) -> None:
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        return self.batches[index]
