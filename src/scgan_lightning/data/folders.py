"""Folders of face images as the data configs name them: one folder or several."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..imaging import IMAGE_EXTENSIONS, list_images

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
