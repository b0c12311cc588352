"""Small faces in whole photos: detect, crop square with a margin, paste restored faces back.

Detection uses the Haar frontal-face cascade that ships inside OpenCV, so nothing is fetched
at run time. Images are RGB PIL images or uint8 (H,W,3) arrays; no networks live here, the
caller restores the crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from .errors import UserError

CASCADE_FILE = "haarcascade_frontalface_default.xml"


class Box(NamedTuple):
    """An axis-aligned rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int


class FaceCrop(NamedTuple):
    """A square crop of a photo and where it came from (``box`` in photo pixels)."""

    box: Box
    image: Image.Image


def _cv2() -> Any:
    """OpenCV is an optional extra: only whole-photo mode needs it."""
    try:
        import cv2
    except ImportError:
        raise UserError(
            "face detection needs OpenCV; install the faces extra: "
            "pip install 'scgan_lightning[faces]'"
        ) from None
    return cv2


@lru_cache(maxsize=1)
def face_detector() -> Any:
    """The bundled cascade, loaded once per process; call it early to fail before any work."""
    cv2 = _cv2()
    path = cv2.data.haarcascades + CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise UserError(f"{path}: OpenCV's bundled face cascade could not be loaded")
    return cascade


def _as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    array = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H,W,3), got {array.dtype} {array.shape}")
    return array


def detect_faces(
    image: Image.Image | np.ndarray,
    min_face: int = 12,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
) -> list[Box]:
    """Frontal faces of at least ``min_face`` pixels, top to bottom then left to right.

    ``scale_factor`` is the cascade's pyramid step (smaller finds more, slower) and
    ``min_neighbors`` the number of overlapping hits a face needs (higher, fewer false faces).
    """
    cv2 = _cv2()
    grey = cv2.cvtColor(_as_array(image), cv2.COLOR_RGB2GRAY)
    found = face_detector().detectMultiScale(
        grey,
        scaleFactor=float(scale_factor),
        minNeighbors=int(min_neighbors),
        minSize=(int(min_face), int(min_face)),
    )
    boxes = [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: (b.y, b.x))


def square_box(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` of its size on every side, made square and kept inside.

    A square that would cross the border is shifted inward rather than cut, so the crop keeps
    the face's aspect ratio; it shrinks only when the photo itself is smaller than the square.
    """
    side = round(max(box.w, box.h) * (1.0 + 2.0 * margin))
    side = max(1, min(side, width, height))
    left = round(box.x + box.w / 2 - side / 2)
    top = round(box.y + box.h / 2 - side / 2)
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return Box(left, top, side, side)


def crop_faces(image: Image.Image, boxes: Sequence[Box], margin: float = 0.25) -> list[FaceCrop]:
    """Square crops around each detected face, ``margin`` of the face size added per side."""
    width, height = image.size
    crops = []
    for box in boxes:
        square = square_box(box, margin, width, height)
        region = (square.x, square.y, square.x + square.w, square.y + square.h)
        crops.append(FaceCrop(square, image.crop(region)))
    return crops


def feather_mask(height: int, width: int, feather: float) -> np.ndarray:
    """Blend weights (H,W) in [0, 1]: 1 inside, falling linearly to 0 over the outer band.

    The band is ``feather`` of the shorter side, so the pasted face has no visible seam.
    """
    if feather <= 0:
        return np.ones((height, width), dtype=np.float32)
    band = max(1.0, feather * min(height, width))

    def ramp(n: int) -> np.ndarray:
        centres = np.arange(n, dtype=np.float32) + 0.5
        return np.clip(np.minimum(centres, n - centres) / band, 0.0, 1.0)

    return np.minimum.outer(ramp(height), ramp(width)).astype(np.float32)


def paste_faces(
    upscaled_photo: Image.Image | np.ndarray,
    restored_faces: Sequence[Image.Image | np.ndarray],
    boxes: Sequence[Box],
    scale: int,
    feather: float = 0.1,
) -> np.ndarray:
    """Blend each restored face into the ``scale``-times photo over its box (photo pixels).

    Faces are resized (bicubic) to fill their box at the upscaled size. Returns a new uint8
    array; the input photo is left unchanged.
    """
    if len(restored_faces) != len(boxes):
        raise ValueError(f"{len(restored_faces)} faces for {len(boxes)} boxes")
    canvas = _as_array(upscaled_photo).astype(np.float32)
    for face, box in zip(restored_faces, boxes, strict=True):
        x, y, w, h = box.x * scale, box.y * scale, box.w * scale, box.h * scale
        face_image = face if isinstance(face, Image.Image) else Image.fromarray(_as_array(face))
        face_image = face_image.convert("RGB")
        if face_image.size != (w, h):
            face_image = face_image.resize((w, h), Image.Resampling.BICUBIC)
        region = canvas[y : y + h, x : x + w]
        mask = feather_mask(region.shape[0], region.shape[1], feather)[..., None]
        pixels = np.asarray(face_image, dtype=np.float32)[: region.shape[0], : region.shape[1]]
        region[...] = mask * pixels + (1.0 - mask) * region
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
