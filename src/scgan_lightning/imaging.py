"""Image files <-> tensors: the one pixel reader and writer, for data and inference alike.

Everything is converted to 8-bit RGB on read (grey, palette, RGBA/LA, CMYK, 16-bit, EXIF
orientation), and tensors are NCHW/CHW float in [-1, 1] (``x / 127.5 - 1``). The 8-bit
conversions of tensors (``quantize``, ``as_8bit``) and the bicubic baseline live here too,
because every score in the project is taken on what a saved 8-bit image would hold.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps

from .atomic import write_bytes
from .errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

# Refuse decompression bombs instead of decoding them: no face image needs more pixels.
MAX_IMAGE_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageReadError(UserError):
    """An image file that cannot be decoded; the message names the file and the cause."""


def _to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits rather than clipping.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def read_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Decode ``path`` fully as an RGB image (first frame of an animation).

    ``max_pixels``: refuse larger images from their header, before decoding (a caller's own
    limit, below the decompression-bomb one: a web app bounds its memory with it)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                _check_pixels(path, image.size, max_pixels)
                image.seek(0)
                image.load()
                return _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(f"{path}: refused, image too large (decompression bomb?)") from None
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImageReadError(f"{path}: cannot read image ({reason})") from None


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(
            f"{path}: {width}x{height} is {width * height / 1e6:.3g} megapixels, over the "
            f"limit of {max_pixels / 1e6:g} megapixels"
        )


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (3,H,W) in [-1, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Image(s) (..., 3, H, W) in [-1, 1] -> uint8 array (..., H, W, 3), as PIL and files hold
    them: ``(y + 1) * 127.5``, clamped, rounded. The inverse of :func:`to_tensor` on 8-bit
    images."""
    pixels = (images.detach().float().cpu() + 1.0) * 127.5
    return pixels.clamp_(0, 255).round_().to(torch.uint8).movedim(-3, -1).numpy()


def jpeg_roundtrip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """What saving (3,H,W) in [-1, 1] as a JPEG of ``quality`` and reading it back gives (PIL's
    encoder, 4:2:0 chroma), in [-1, 1]: the JPEG step of degradation chains."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return to_tensor(decoded.convert("RGB"))


def resize(image: Image.Image, size: int | tuple[int, int]) -> Image.Image:
    """Antialiased (bicubic) resize to ``size`` (square when an int)."""
    target = (size, size) if isinstance(size, int) else size
    if image.size == tuple(target):
        return image
    return image.resize(target, Image.Resampling.BICUBIC, reducing_gap=None)


def read_face(path: str | os.PathLike, size: int, square: bool = True) -> torch.Tensor:
    """A face file as a (3, size, size) tensor: its centred square (unless ``square=False``,
    for detector crops that are square already), antialiased to ``size``."""
    image = read_rgb(path)
    return to_tensor(resize(center_square(image) if square else image, size))


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] tensor -> the float64 0-255 integers a saved 8-bit image would hold."""
    return ((images.detach().double() + 1.0) * 127.5).clamp_(0, 255).round_()


def as_8bit(images: torch.Tensor) -> torch.Tensor:
    """What saving and re-reading 8-bit images gives, back in [-1, 1] (float32)."""
    return quantize(images).float().div_(127.5).sub_(1.0)


def bicubic_upsample(lr: torch.Tensor, size: int) -> torch.Tensor:
    """The bicubic baseline of every score: 8-bit PIL bicubic (a=-0.5, as MATLAB's imresize)
    of a [-1, 1] batch (N, 3, h, w) to ``size`` x ``size``, on ``lr``'s device."""
    images = [to_tensor(resize(Image.fromarray(to_uint8(x)), size)) for x in lr]
    return torch.stack(images).to(lr.device)


def center_square(image: Image.Image) -> Image.Image:
    """The largest centred square crop."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def save_png(
    array_or_image: np.ndarray | Image.Image, path: str | os.PathLike, compress_level: int = 6
) -> None:
    """Write a PNG atomically (``atomic.write_bytes``), creating parent folders.

    ``compress_level`` is zlib's (0-9); 1 writes a 30-megapixel photo about 3x faster than
    the default 6, for files about 20% larger."""
    image = (
        array_or_image
        if isinstance(array_or_image, Image.Image)
        else Image.fromarray(np.asarray(array_or_image, dtype=np.uint8))
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    write_bytes(path, buffer.getbuffer())


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Sorted image files under ``folder`` (by extension, case-insensitive)."""
    folder = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(
        p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
