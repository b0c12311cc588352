"""The controlled benchmark's scores: methods on a set's held-out pairs, and the gap closed.

SCGAN's claim is that G_DHL learns an LR domain's degradation from unpaired data, so that the
shared restorer handles it. On a controlled set (``data/controlled.py``) that claim has ground
truth: every method restores ``val/lr`` and is scored against ``val/hr``. Between the naive
restorer (the domain gap ignored) and the oracle (trained on the true degradation) the
headline is the share of the gap a method closes, in PSNR (AIM 2019 / NTIRE 2020 Track 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from PIL import Image

from ..data.datasets import PairedFolderDataset
from ..data.folders import folder_images
from ..grids import columns_grid
from ..imaging import as_8bit
from .paired import Restore, score_paired

GAP_KEY = "pairs/gap_closed"


def gap_closed(method: float, naive: float, oracle: float) -> float:
    """``(method - naive) / (oracle - naive)``: 0 at the naive restorer, 1 at the oracle.

    NaN when the oracle does not beat the naive one: there is no gap to close.
    """
    gap = oracle - naive
    return (method - naive) / gap if gap > 0 else float("nan")


def score_pairs_dir(
    methods: Mapping[str, Restore],
    pairs_dir: str | Path,
    hr_size: int,
    scale: int,
    *,
    identity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    max_images: int | None = None,
    batch_size: int = 64,
) -> tuple[dict[str, dict[str, float]], PairedFolderDataset]:
    """``pairs/psnr``, ``pairs/ssim`` (and ``pairs/identity``) of each method on
    ``pairs_dir/hr`` x ``pairs_dir/lr``."""
    folder = Path(pairs_dir)
    files = folder_images("pairs_dir (its hr/ folder)", folder / "hr")
    pairs = PairedFolderDataset(files, folder / "lr", hr_size, scale, max_images)
    scores = score_paired(methods, pairs, batch_size=batch_size, identity=identity)
    rows = {name: {f"pairs/{k}": v for k, v in row.items()} for name, row in scores.items()}
    return rows, pairs


def pair_tensors(
    pairs_dir: str | Path, max_images: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``max_images`` pairs of ``pairs_dir/hr`` x ``pairs_dir/lr`` as two stacks,
    (N,3,H,W) and (N,3,h,w) in [-1, 1], for tools that need the faces themselves."""
    folder = Path(pairs_dir)
    files = folder_images("pairs_dir (its hr/ folder)", folder / "hr")
    pairs = PairedFolderDataset(files, folder / "lr", max_items=max_images)
    items = [pairs[i] for i in range(len(pairs))]
    return torch.stack([i["hr"] for i in items]), torch.stack([i["lr"] for i in items])


def add_gap_closed(rows: dict[str, dict[str, float]], naive: str, oracle: str) -> None:
    """Each method's ``pairs/gap_closed`` between the rows named ``naive`` and ``oracle``."""
    if naive not in rows or oracle not in rows:
        return
    low, high = rows[naive]["pairs/psnr"], rows[oracle]["pairs/psnr"]
    for row in rows.values():
        row[GAP_KEY] = gap_closed(row["pairs/psnr"], low, high)


def pairs_grid(
    methods: Mapping[str, Restore], pairs: PairedFolderDataset, faces: int
) -> Image.Image:
    """LR | each method (bicubic first) | HR, for the first ``faces`` validation pairs."""
    items = [pairs[i] for i in range(min(faces, len(pairs)))]
    lr = as_8bit(torch.stack([item["lr"] for item in items]))
    hr = torch.stack([item["hr"] for item in items])
    outputs = {name: as_8bit(restore(lr)) for name, restore in methods.items()}
    return columns_grid({"LR": lr, **outputs, "HR": hr})
