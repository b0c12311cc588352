"""The images ``FaceRestorer`` accepts, and each result handed back in the kind it came as.

PIL images (any mode: converted to RGB), and numpy arrays of height x width x 3 uint8, what
OpenCV and imageio users hold: RGB, or BGR (OpenCV's order) when the caller says
``channel_order="bgr"``. Anything else is refused in one line that names what it got.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ImageInputError

CHANNEL_ORDERS = ("rgb", "bgr")
ACCEPTED = "PIL images or height x width x 3 uint8 numpy arrays"


def check_channel_order(channel_order: str) -> str:
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    return channel_order


def describe(value: Any) -> str:
    """What a value is, for an error message: its type, and shape and dtype for arrays."""
    if isinstance(value, np.ndarray | torch.Tensor):
        kind = "numpy array" if isinstance(value, np.ndarray) else "tensor"
        return f"a {kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    kind = type(value)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return f"a {name}"


def face_list(images: Any, where: str) -> list:
    """``images`` as a list of single images; a lone image or another type is refused."""
    if isinstance(images, list | tuple):
        return list(images)
    if isinstance(images, Image.Image | np.ndarray):
        raise ImageInputError(
            f"{where} takes a list of images, got a single one ({describe(images)}): "
            "wrap it in a list"
        )
    raise ImageInputError(
        f"{where} takes a list of {ACCEPTED}, or a (N, 3, h, w) tensor; got {describe(images)}"
    )


def to_rgb_image(image: Any, channel_order: str, what: str) -> Image.Image:
    """A PIL RGB image of ``image`` (PIL, or a numpy array in ``channel_order``)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ImageInputError(
                f"{what} is {describe(image)}; expected height x width x 3, uint8"
            )
        if channel_order == "bgr":
            image = image[..., ::-1]
        return Image.fromarray(np.ascontiguousarray(image))
    raise ImageInputError(f"{what} is {describe(image)}; expected one of {ACCEPTED}")


def like_input(rgb: np.ndarray, original: Any, channel_order: str) -> Image.Image | np.ndarray:
    """A result (height x width x 3 uint8 RGB) as the kind ``original`` was: a PIL image, or
    a numpy array in ``channel_order``."""
    if isinstance(original, np.ndarray):
        return np.ascontiguousarray(rgb[..., ::-1]) if channel_order == "bgr" else rgb
    return Image.fromarray(rgb)
