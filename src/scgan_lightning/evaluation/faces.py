"""The face folders an evaluation reads, with one-line errors naming the config key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import UserError
from ..imaging import IMAGE_EXTENSIONS, list_images, read_face


def face_files(folder: str | Path | None, key: str, max_images: int | None) -> list[Path]:
    """The images under ``folder`` (sorted, recursive), the first ``max_images`` of them."""
    if not folder:
        raise UserError(f"{key} is not set (give {key}=<folder of images>)")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UserError(f"{path}: no such folder ({key})")
    files = list_images(path)
    if not files:
        raise UserError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found ({key})")
    return files[:max_images] if max_images else files


def load_faces(files: Sequence[Path], size: int) -> torch.Tensor:
    """(N, 3, size, size) in [-1, 1]; other sizes are centre-cropped square and resized."""
    return torch.stack([read_face(file, size) for file in files])


def check_counts(batch_size: int, max_images: int | None) -> None:
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size} must be at least 1")
    if max_images is not None and max_images < 1:
        raise UserError(f"max_images={max_images} must be at least 1 (or null for all)")
