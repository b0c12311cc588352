"""``FaceRestorer``: the one object through which every caller restores faces.

predict, evaluate, report, export, the notebook and the Lightning predict path all hold one:
it owns the network, how it runs (device, precision, layout) and the size check, and it
restores face crops (PIL images, numpy arrays or tensors) or whole photos (faces found,
restored, pasted back into the 4x photo), with no files involved.

Building one is cheap (the weights loaded, the settings cache read): "auto" settings are timed
on the first batches it restores (``autotune``), never when it is built, so a restorer is ready
at once, and nothing is written until a choice has been made.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import overload

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..autotune import Requested, Tuner, cache_key
from ..checks import check_scale, resolve_device
from ..errors import ImageInputError
from ..imaging import resize, to_tensor, to_uint8
from .detect import Detector, make_detector
from .engine import RestoreEngine
from .face_inputs import check_channel_order, describe, face_list, like_input, to_rgb_image
from .geometry import crop, paste
from .models import load_model
from .options import PhotoOptions
from .photo_mode import FACES_PER_CHUNK, PhotoResult, RestoredFace, face_squares, upscale

# What a caller hands in and gets back: a PIL image or a height x width x 3 uint8 array.
ImageLike = Image.Image | np.ndarray


class FaceRestorer:
    """A restorer network with its run settings, ready for faces and photos.

    ``hr_size`` is the output face side; the network reads ``hr_size / scale`` pixels.
    ``precision`` ("32", "bf16", "auto") and ``channels_last`` (True, False, "auto"): "auto"
    ones are timed on the first full batches restored, and the choice cached. ``photo`` sets
    photo mode's size policy and blending; ``detector`` replaces the one it names (anything
    that maps an RGB uint8 array to ``detect.Face``s).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        scale: int = 4,
        hr_size: int = 64,
        device: str | torch.device = "cpu",
        precision: str = "32",
        channels_last: bool | str = False,
        batch_size: int = 16,
        photo: PhotoOptions | None = None,
        detector: Detector | None = None,
        source: str = "module",
        ema: bool = False,
    ) -> None:
        self.lr_size = check_scale(hr_size, scale)
        self.hr_size = hr_size
        self.scale = scale
        device = resolve_device(device)
        options = Requested(precision, channels_last).candidates(device)
        work = f"restore, batch {batch_size}x3x{self.lr_size}x{self.lr_size}"
        key = cache_key(device, model, work, options)
        tuner = Tuner.from_cache(options, key, "restore", "batch", batch_size)
        self.engine = RestoreEngine(model, device, batch_size=batch_size, scale=scale, tuner=tuner)
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
        "auto" ones are timed on the first full batches restored (see the class).
        """
        loaded = load_model(None if path is None else str(path))
        return cls(
            loaded.model,
            scale=loaded.scale,
            hr_size=hr_size,
            device=device,
            precision=precision,
            channels_last=channels_last,
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
    def restore_faces(self, images: torch.Tensor, *, channel_order: str = ...) -> torch.Tensor: ...

    @overload
    def restore_faces(
        self, images: Sequence[ImageLike], *, channel_order: str = ...
    ) -> list[ImageLike]: ...

    def restore_faces(
        self, images: torch.Tensor | Sequence[ImageLike], *, channel_order: str = "rgb"
    ) -> torch.Tensor | list[ImageLike]:
        """Restored faces, each as the kind it came in.

        A tensor (N, 3, h, w) in [-1, 1]: a float32 CPU tensor at ``scale`` times the size. A
        list of PIL images or of numpy arrays (height x width x 3, uint8, RGB; BGR with
        ``channel_order="bgr"``): each resized (antialiased) to the network's input, restored
        to ``hr_size`` pixels, and handed back as a PIL image or an array in the same order.
        """
        check_channel_order(channel_order)
        if isinstance(images, torch.Tensor):
            if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
                raise ImageInputError(
                    f"restore_faces takes a float (N, 3, h, w) tensor in [-1, 1]; got "
                    f"{describe(images)}"
                )
            return self.engine.restore(images)
        faces = face_list(images, "restore_faces")
        if not faces:
            return []
        rgb = [to_rgb_image(face, channel_order, f"face {i}") for i, face in enumerate(faces)]
        lr = torch.stack([to_tensor(resize(image, self.lr_size)) for image in rgb])
        restored = [to_uint8(sr) for sr in self.engine.restore(lr)]
        return [
            like_input(sr, face, channel_order) for sr, face in zip(restored, faces, strict=True)
        ]

    def restore_photo(
        self, image: ImageLike, *, channel_order: str = "rgb"
    ) -> tuple[ImageLike, list[RestoredFace]]:
        """The photo ``scale`` times larger (bicubic) with its small faces restored, as the
        kind it came in (PIL, or a numpy array in ``channel_order``), and the faces restored,
        with the square each was cut from."""
        result = self.process_photo(image, channel_order=channel_order)
        return like_input(result.canvas, image, channel_order), result.faces

    def process_photo(self, image: ImageLike, *, channel_order: str = "rgb") -> PhotoResult:
        """``restore_photo`` with what a job reports: faces found, and the boxes of those left
        to the bicubic background because they are larger than ``photo.max_face``."""
        image = to_rgb_image(image, check_channel_order(channel_order), "the photo")
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
