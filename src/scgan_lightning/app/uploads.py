"""An uploaded file read as an RGB image, or the one-line reason it cannot be."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from ..imaging import ImageReadError, read_rgb


def read_upload(path: str | os.PathLike, max_pixels: int) -> Image.Image:
    """The upload decoded by the project's one reader (``imaging.read_rgb``: modes, EXIF,
    decompression bombs), refused above ``max_pixels``. Its error names the file as the user
    called it, not the server's temporary copy (the upload keeps its name in its own folder).
    """
    path = Path(path)
    try:
        return read_rgb(path, max_pixels)
    except ImageReadError as err:
        raise ImageReadError(str(err).replace(str(path), path.name)) from None
