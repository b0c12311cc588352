"""``FaceRestorer``: the one object through which every caller restores faces.

predict, evaluate, report, export, the notebook and the Lightning predict path all hold one:
it owns the network, how it runs (device, precision, layout; "auto" ones measured once) and
the size check, and it restores face crops (PIL images or tensors) or whole photos (faces
found, restored, pasted back into the 4x photo), with no files involved.
"""

from __future__ import annotations

import copy
import os
from typing import overload

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..checks import check_scale, resolve_device
from ..imaging import resize, to_tensor, to_uint8
from .detect import Detector, make_detector
from .engine import RestoreEngine, RunSettings
from .geometry import crop, paste
from .models import load_model
from .options import PhotoOptions
from .photo_mode import FACES_PER_CHUNK, PhotoResult, RestoredFace, face_squares, upscale
from .tuning import choose_settings


class FaceRestorer:
    """A restorer network with its run settings, ready for faces and photos.

    ``hr_size`` is the output face side; the network reads ``hr_size / scale`` pixels.
    ``photo`` sets photo mode's size policy and blending; ``detector`` replaces the one it
    names (anything that maps an RGB uint8 array to ``detect.Face``s).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        scale: int = 4,
        hr_size: int = 64,
        device: str | torch.device = "cpu",
        settings: RunSettings | None = None,
        batch_size: int = 16,
        photo: PhotoOptions | None = None,
        detector: Detector | None = None,
        source: str = "module",
        ema: bool = False,
    ) -> None:
        self.lr_size = check_scale(hr_size, scale)
        self.hr_size = hr_size
        self.scale = scale
        self.engine = RestoreEngine(model, resolve_device(device), settings, batch_size, scale)
        self.photo = photo or PhotoOptions()
        self.source = source  # "lightning", "restorer", "released" (a file) or "module"
        self.ema = ema
        self._detector = detector

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        *,
        channels_last: bool | str = "auto",
        batch_size: int = 16,
        hr_size: int = 64,
        photo: PhotoOptions | None = None,
        detector: Detector | None = None,
    ) -> FaceRestorer:
        """The restorer of a training ``.ckpt``, a ``restorer.pt`` or the released file;
        ``None``: the one bundled with the package.

        ``precision`` ("auto", "32", "bf16") and ``channels_last`` ("auto", True, False):
        "auto" times each candidate on a warm-up batch here and keeps the fastest (cached).
        """
        loaded = load_model(None if path is None else str(path))
        device = resolve_device(device)
        lr_size = check_scale(hr_size, loaded.scale)
        model = loaded.model.to(device).eval()
        settings = choose_settings(model, device, precision, channels_last, lr_size, batch_size)
        return cls(
            model,
            scale=loaded.scale,
            hr_size=hr_size,
            device=device,
            settings=settings,
            batch_size=batch_size,
            photo=photo,
            detector=detector,
            source=loaded.source,
            ema=loaded.ema,
        )

    @property
    def model(self) -> nn.Module:
        return self.engine.model

    @property
    def device(self) -> torch.device:
        return self.engine.device

    @property
    def detector(self) -> Detector:
        """Photo mode's face detector, built on first use (``photo.detector``)."""
        if self._detector is None:
            self._detector = make_detector(self.photo.detector, self.photo.min_face)
        return self._detector

    def with_photo(self, photo: PhotoOptions) -> FaceRestorer:
        """This restorer (the same network and run settings, nothing reloaded) with other
        photo-mode options; the detector is kept when they name the same one."""
        twin = copy.copy(self)
        twin.photo = photo
        same = (photo.detector, photo.min_face) == (self.photo.detector, self.photo.min_face)
        twin._detector = self._detector if same else None
        return twin

    @overload
    def restore_faces(self, images: torch.Tensor) -> torch.Tensor: ...

    @overload
    def restore_faces(self, images: list[Image.Image]) -> list[Image.Image]: ...

    def restore_faces(
        self, images: torch.Tensor | list[Image.Image]
    ) -> torch.Tensor | list[Image.Image]:
        """Restored faces: for a tensor (N, 3, h, w) in [-1, 1], a float32 CPU tensor at
        ``scale`` times the size; for PIL images (each resized, antialiased, to the network's
        input first), PIL images of ``hr_size`` pixels."""
        if isinstance(images, torch.Tensor):
            return self.engine.restore(images)
        if not images:
            return []
        lr = [to_tensor(resize(image.convert("RGB"), self.lr_size)) for image in images]
        return [Image.fromarray(to_uint8(sr)) for sr in self.engine.restore(torch.stack(lr))]

    def restore_photo(self, image: Image.Image) -> tuple[Image.Image, list[RestoredFace]]:
        """The photo ``scale`` times larger (bicubic) with its small faces restored, and the
        faces restored, with the square each was cut from."""
        result = self.process_photo(image)
        return Image.fromarray(result.canvas), result.faces

    def process_photo(self, image: Image.Image) -> PhotoResult:
        """``restore_photo`` with what a job reports: faces found, and the boxes of those left
        to the bicubic background because they are larger than ``photo.max_face``."""
        image = image.convert("RGB")
        found = self.detector(np.asarray(image))
        squares, left = face_squares(found, self.photo, image.width, image.height)
        result = PhotoResult(upscale(image, self.scale), len(found), [], left)
        for start in range(0, len(squares), FACES_PER_CHUNK):
            chunk = squares[start : start + FACES_PER_CHUNK]
            lr = [resize(crop(image, square), self.lr_size) for square in chunk]
            for square, low, sr in zip(chunk, lr, self.restore_faces(lr), strict=True):
                paste(result.canvas, np.asarray(sr), square, self.scale, self.photo.feather)
                result.faces.append(RestoredFace(square, low, sr))
        return result
