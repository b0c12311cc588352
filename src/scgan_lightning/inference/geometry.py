"""Where a face is cut from a photo and how its restored version is blended back.

Crops are squares in photo pixels, kept inside the photo; pasting works on the ``scale``-times
canvas one face region at a time, so memory stays that of the canvas itself.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .detect import Box, Face


def square_box(cx: float, cy: float, side: float, width: int, height: int) -> Box:
    """A square of ``side`` centred on (cx, cy), shifted inward rather than cut at the border
    (the crop keeps the face's aspect ratio); shrunk only when the photo is smaller."""
    size = max(1, min(round(side), width, height))
    left = min(max(round(cx - size / 2), 0), width - size)
    top = min(max(round(cy - size / 2), 0), height - size)
    return Box(left, top, size, size)


def face_square(face: Face, margin: float, width: int, height: int) -> Box:
    """The detector box grown by ``margin`` of its side on every side, made square."""
    box = face.box
    side = box.side * (1.0 + 2.0 * margin)
    return square_box(box.x + box.w / 2, box.y + box.h / 2, side, width, height)


def crop(image: Image.Image, square: Box) -> Image.Image:
    return image.crop((square.x, square.y, square.x + square.w, square.y + square.h))


def feather_mask(size: int, feather: float) -> np.ndarray:
    """Square blend weights (size, size, 1) in [0, 1]: 1 inside, falling linearly to 0 over an
    outer band of ``feather`` of the side, so a pasted face leaves no seam."""
    if feather <= 0:
        return np.ones((size, size, 1), dtype=np.float32)
    band = max(1.0, feather * size)
    centres = np.arange(size, dtype=np.float32) + 0.5
    ramp = np.clip(np.minimum(centres, size - centres) / band, 0.0, 1.0)
    return np.minimum.outer(ramp, ramp)[..., None].astype(np.float32)


def paste(canvas: np.ndarray, face: np.ndarray, square: Box, scale: int, feather: float) -> None:
    """Blend ``face`` (uint8, any size) into ``canvas`` (uint8, the ``scale``-times photo) over
    ``square`` (photo pixels), in place; the face is resized (bicubic) to fill the region."""
    x, y, side = square.x * scale, square.y * scale, square.w * scale
    region = canvas[y : y + side, x : x + side]
    if region.shape[:2] != (side, side):
        raise ValueError(f"square {square} at x{scale} falls outside the canvas {canvas.shape}")
    pixels = Image.fromarray(face)
    if pixels.size != (side, side):
        pixels = pixels.resize((side, side), Image.Resampling.BICUBIC)
    mask = feather_mask(side, feather)
    blend = mask * np.asarray(pixels, dtype=np.float32) + (1.0 - mask) * region
    region[...] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
