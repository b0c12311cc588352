"""Photo mode: the whole photo upscaled, its small faces found, restored and pasted back.

The size policy keeps the restorer from making a photo worse: only faces whose side is at
most ``photo.max_face`` go through it (above that, bicubic of the face at its own size beats
restoring it through the 16 px input, docs/INFERENCE.md); larger faces keep the background
upsample. Faces go through in batches and are pasted as they come back, so memory is the
upscaled photo plus one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..imaging import resize
from . import geometry
from .detect import Box, Face
from .options import PhotoOptions

FACES_PER_CHUNK = 64  # faces cropped, restored and pasted together


def upscale(image: Image.Image, scale: int) -> np.ndarray:
    """The background: the photo ``scale`` times larger, bicubic, as a writable uint8 array."""
    return np.array(resize(image, (image.width * scale, image.height * scale)))


@dataclass(frozen=True)
class RestoredFace:
    """One face of a photo: the square it was cut from (photo pixels), the crop as the
    network read it, and its restoration."""

    box: Box
    lr: Image.Image
    sr: Image.Image


@dataclass
class PhotoResult:
    """A restored photo (uint8 array, ``scale`` times larger) and what happened to its faces:
    those restored, and the boxes of those ``left`` to the background (over ``max_face``)."""

    canvas: np.ndarray
    found: int
    faces: list[RestoredFace] = field(default_factory=list)
    left: list[Box] = field(default_factory=list)

    @property
    def restored(self) -> int:
        return len(self.faces)

    @property
    def too_large(self) -> int:
        return len(self.left)


def face_squares(
    faces: Sequence[Face], options: PhotoOptions, width: int, height: int
) -> tuple[list[Box], list[Box]]:
    """The squares to restore (faces of at most ``max_face`` px) and the boxes left out."""
    small = [f for f in faces if f.box.side <= options.max_face]
    squares = [geometry.face_square(f, options.margin, width, height) for f in small]
    return squares, [f.box for f in faces if f.box.side > options.max_face]
