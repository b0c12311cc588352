"""Face mode: inputs are face crops; each comes back at the model's output size.

A crop larger than the model's input is not silently shrunk (that throws away the detail a
user wants kept): it is reported and skipped unless ``faces.allow_downscale`` is set.
``cmp/`` shows the user's own input, resized to the output size, beside the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import UserError
from ..imaging import ImageReadError, read_rgb, resize, to_tensor, to_uint8
from .inputs import InputItem
from .writers import Outputs, Report


def too_large_reason(path: object, size: tuple[int, int], lr_size: int) -> str:
    """The one-line reason a crop is skipped, naming the option that restores it anyway."""
    width, height = size
    return (
        f"{path}: {width}x{height} px is larger than the model's {lr_size}x{lr_size} input, "
        "not shrunk (faces.allow_downscale=true restores it anyway)"
    )


class FaceFiles(Dataset):
    """Face crops read as RGB and resized (antialiased) to the model input size.

    A file that cannot be read yields its error, and a crop over the input size (unless
    ``allow_downscale``) the reason it is skipped, so one file does not stop a batch job.
    ``cmp_size``: also carry the original resized to that size, for ``cmp/``.
    """

    def __init__(
        self,
        items: Sequence[InputItem],
        lr_size: int,
        allow_downscale: bool = False,
        cmp_size: int | None = None,
    ) -> None:
        self.items = list(items)
        self.lr_size = lr_size
        self.allow_downscale = allow_downscale
        self.cmp_size = cmp_size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.items[index].path
        sample: dict[str, Any] = {"index": index, "path": str(path), "error": None, "skip": None}
        try:
            image = read_rgb(path)
        except ImageReadError as err:
            return {**sample, "error": str(err)}
        if max(image.size) > self.lr_size and not self.allow_downscale:
            return {**sample, "skip": too_large_reason(path, image.size, self.lr_size)}
        sample["lr"] = to_tensor(resize(image, self.lr_size))
        if self.cmp_size:
            sample["cmp"] = torch.from_numpy(np.asarray(resize(image, self.cmp_size)).copy())
        return sample


def collate_faces(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A batch: ``lr`` (B,3,h,w), ``path``/``index`` of good files, ``errors``, ``skips``,
    and ``cmp`` (B,H,W,3 uint8 originals) when asked for."""
    good = [s for s in samples if s["error"] is None and s["skip"] is None]
    batch = {
        "lr": torch.stack([s["lr"] for s in good]) if good else torch.empty(0),
        "path": [s["path"] for s in good],
        "index": [s["index"] for s in good],
        "errors": [s["error"] for s in samples if s["error"] is not None],
        "skips": [s["skip"] for s in samples if s["skip"] is not None],
    }
    if good and "cmp" in good[0]:
        batch["cmp"] = torch.stack([s["cmp"] for s in good])
    return batch


def face_loader(
    items: Sequence[InputItem],
    lr_size: int,
    batch_size: int,
    num_workers: int,
    allow_downscale: bool = False,
    cmp_size: int | None = None,
) -> DataLoader:
    return DataLoader(
        FaceFiles(items, lr_size, allow_downscale, cmp_size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_faces,
    )


class FaceWriter:
    """Writes each restored face (and its comparison image) and reports the outcome."""

    def __init__(self, items: Sequence[InputItem], outputs: Outputs, report: Report) -> None:
        self.items = list(items)
        self.outputs = outputs
        self.report = report

    def write_batch(self, batch: dict[str, Any], sr: torch.Tensor | None) -> None:
        for message in batch["errors"]:
            self.report.fail(message)
        for message in batch["skips"]:
            self.report.skip(message)
        for row, index in enumerate(batch["index"]):
            item = self.items[index]
            try:
                restored = to_uint8(sr[row])
                self.outputs.save(restored, self.outputs.target(item.rel))
                if "cmp" in batch:
                    cmp = np.hstack([batch["cmp"][row].numpy(), restored])
                    self.outputs.save(cmp, self.outputs.target(item.rel, "cmp"))
            except (UserError, OSError) as err:
                self.report.fail(f"{item.path}: not written ({err})")
                continue
            self.report.ok()
