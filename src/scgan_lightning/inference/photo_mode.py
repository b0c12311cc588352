"""Photo mode: the whole photo upscaled, its small faces found, restored and pasted back.

The size policy keeps the restorer from making a photo worse: only faces whose side is at
most ``photo.max_face`` go through it (above that, bicubic of the face at its own size beats
restoring it through the 16 px input, docs/INFERENCE.md); larger faces keep the background
upsample. Faces go through in batches and are pasted as they come back, so memory is the
upscaled photo plus one batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from rich.progress import Progress

from ..data.image_io import ImageReadError, read_rgb, resize, to_tensor, to_uint8
from ..errors import UserError
from . import geometry
from .detect import Box, Detector
from .engine import RestoreEngine
from .inputs import InputItem
from .options import PhotoOptions
from .writers import Outputs, Report, faces_line

FACES_PER_CHUNK = 64  # faces cropped, restored and pasted together


def upscale(image: Image.Image, scale: int) -> np.ndarray:
    """The background: the photo ``scale`` times larger, bicubic, as a writable uint8 array."""
    return np.array(resize(image, (image.width * scale, image.height * scale)))


@dataclass
class PhotoResult:
    """A restored photo and what happened to its faces (``crops``: (lr, sr) when kept)."""

    canvas: np.ndarray
    found: int
    restored: int
    too_large: int
    crops: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class PhotoRestorer:
    """Detect, apply the size policy, restore in chunks and paste into the upscaled photo."""

    def __init__(
        self, engine: RestoreEngine, detector: Detector, options: PhotoOptions, lr_size: int
    ) -> None:
        self.engine = engine
        self.detector = detector
        self.options = options
        self.lr_size = lr_size

    def __call__(self, image: Image.Image) -> PhotoResult:
        faces = self.detector(np.asarray(image))
        small = [f for f in faces if f.box.side <= self.options.max_face]
        squares = [
            geometry.face_square(f, self.options.margin, image.width, image.height) for f in small
        ]
        scale = self.engine.scale
        result = PhotoResult(upscale(image, scale), len(faces), len(small), len(faces) - len(small))
        for chunk in _chunks(squares, FACES_PER_CHUNK):
            lr = torch.stack(
                [to_tensor(resize(geometry.crop(image, sq), self.lr_size)) for sq in chunk]
            )
            for square, low, sr in zip(chunk, lr, self.engine.restore(lr), strict=True):
                face = to_uint8(sr)
                geometry.paste(result.canvas, face, square, scale, self.options.feather)
                if self.options.save_faces:
                    result.crops.append((to_uint8(low), face))
        return result


def _chunks(squares: Sequence[Box], size: int) -> Iterator[Sequence[Box]]:
    for start in range(0, len(squares), size):
        yield squares[start : start + size]


def run_photos(
    restorer: PhotoRestorer,
    items: Sequence[InputItem],
    outputs: Outputs,
    report: Report,
    save_cmp: bool,
    progress: Progress,
) -> None:
    """Each photo written ``scale`` times larger with its small faces restored; a photo that
    cannot be read or written is reported and the job goes on."""
    task = progress.add_task("restoring photos", total=len(items))
    summary = report.summary
    summary.max_face = restorer.options.max_face
    for item in items:
        progress.advance(task)
        try:
            image = read_rgb(item.path)
        except ImageReadError as err:
            report.fail(str(err))
            continue
        result = restorer(image)
        try:
            outputs.save(result.canvas, outputs.target(item.rel), fast=True)
            if save_cmp:
                background = upscale(image, restorer.engine.scale)
                both = np.hstack([background, result.canvas])
                outputs.save(both, outputs.target(item.rel, "cmp"), fast=True)
            for k, (lr, sr) in enumerate(result.crops):
                outputs.save(lr, outputs.target(item.rel, "faces", f"_{k}_lr"))
                outputs.save(sr, outputs.target(item.rel, "faces", f"_{k}_sr"))
        except (UserError, OSError) as err:
            report.fail(f"{item.path}: not written ({err})")
            continue
        summary.faces += result.found
        summary.restored += result.restored
        summary.too_large += result.too_large
        line = faces_line(result.restored, result.too_large, summary.max_face)
        report.note(f"{item.path}: {result.found} faces found, {line}")
        report.ok()
