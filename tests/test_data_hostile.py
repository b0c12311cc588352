"""Hostile inputs: odd image modes, broken and fake files, bombs, odd names, symlink loops.

Training data goes through the datasets' scan; predict's face crops through ``FaceFiles``.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from scgan_lightning.data import FaceDataModule, UnpairedFaceDataset
from scgan_lightning.data.datasets import scan_images
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import IMAGE_EXTENSIONS, ImageReadError, list_images, read_rgb
from scgan_lightning.inference.face_mode import FaceFiles
from scgan_lightning.inference.inputs import InputItem

from .test_data import write_image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noisy(size: int = 48) -> Image.Image:
    rng = np.random.default_rng(size)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE)]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **extra)


def palette_with_transparent_half() -> Image.Image:
    image = Image.new("P", (16, 16), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 8, 16))
    image.info["transparency"] = 0
    return image


def read_like_predict(paths: list[Path], lr_size: int = 8) -> list[dict]:
    """Each file as predict's face mode reads it (any size shrunk to the input)."""
    items = [InputItem(path, Path(path.stem)) for path in paths]
    faces = FaceFiles(items, lr_size, allow_downscale=True)
    return [faces[index] for index in range(len(faces))]


def channel_means(path: Path) -> list[float]:
    lr = read_like_predict([path])[0]["lr"]
    return [round((value + 1) * 127.5) for value in lr.mean(dim=(1, 2)).tolist()]


# (file name, file bytes, expected mean RGB after conversion, tolerance in grey levels)
MODE_CASES = [
    ("grey.png", encoded(Image.new("L", (16, 16), 100), "PNG"), (100, 100, 100), 0),
    ("grey_alpha.png", encoded(Image.new("LA", (16, 16), (0, 0)), "PNG"), (255, 255, 255), 0),
    ("rgba.png", encoded(Image.new("RGBA", (16, 16), (255, 0, 0, 255)), "PNG"), RED, 0),
    ("clear.png", encoded(Image.new("RGBA", (16, 16), (9, 9, 9, 0)), "PNG"), (255, 255, 255), 0),
    ("palette.png", encoded(palette_with_transparent_half(), "PNG"), (255, 128, 128), 1),
    (
        "sixteen_bit.png",
        encoded(Image.fromarray(np.full((16, 16), 32768, np.uint16)), "PNG"),
        (128, 128, 128),
        1,
    ),
    ("cmyk.jpg", encoded(Image.new("CMYK", (16, 16), (0, 0, 0, 0)), "JPEG"), (255, 255, 255), 2),
    ("animated_gif_named.png", animation("GIF"), RED, 0),
    ("animated.webp", animation("WEBP"), RED, 0),
    ("jpeg_named.png", encoded(Image.new("RGB", (16, 16), BLUE), "JPEG", quality=95), BLUE, 3),
]


@pytest.mark.parametrize(("name", "data", "expected", "tolerance"), MODE_CASES)
def test_image_modes_become_rgb(tmp_path, name, data, expected, tolerance):
    path = tmp_path / name
    path.write_bytes(data)
    means = channel_means(path)
    assert all(abs(m - e) <= tolerance for m, e in zip(means, expected, strict=True)), means


def test_exif_orientation_is_applied_before_the_crop(tmp_path):
    stored = Image.new("RGB", (64, 32), RED)
    stored.paste(BLUE, (32, 0, 64, 32))  # stored: red left half, blue right half
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise: red on top, blue below
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif)
    hr = UnpairedFaceDataset([path], [path], hr_size=64)[0]["hr"]
    top, bottom = hr[:, 4].mean(dim=1), hr[:, -5].mean(dim=1)
    assert top[0] > 0.8 and top[2] < -0.8
    assert bottom[2] > 0.8 and bottom[0] < -0.8


def test_a_pixel_limit_refuses_an_image_from_its_header_before_decoding(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(png_header_only(3000, 2000))  # no pixel data: decoding it would fail
    message = r"wide\.png: 3000x2000 is 6 megapixels, over the limit of 5 megapixels$"
    with pytest.raises(ImageReadError, match=message):
        read_rgb(path, max_pixels=5_000_000)
    with pytest.raises(ImageReadError, match="cannot read image"):
        read_rgb(path, max_pixels=6_000_000)
    small = write_image(tmp_path / "small.png", (30, 20), 90)
    assert read_rgb(small, max_pixels=600).size == (30, 20)


def test_unicode_and_space_names_load(tmp_path):
    path = write_image(tmp_path / "visage été 顔 (1).png", (20, 20), 90)
    assert read_like_predict(list_images(tmp_path), lr_size=16)[0]["lr"].shape == (3, 16, 16)
    assert list_images(tmp_path) == [path]


BAD_FILES = {
    "zero_bytes.png": b"",
    "truncated.png": encoded(noisy(), "PNG")[:700],
    "truncated.jpg": encoded(noisy(), "JPEG")[:400],
    "not an image ñ.jpg": b"hello, this is a text file\n" * 10,
    "bomb.png": png_header_only(40_000, 40_000),
    "html.webp": b"<html><body>404</body></html>",
}


def hostile_folder(root: Path) -> Path:
    folder = root / "hostile"
    for i in range(6):
        write_image(folder / f"good_{i}.png", (32, 32), 40 * i)
    write_image(folder / "sub dir" / "visage été.png", (32, 32), 7)
    for name, data in BAD_FILES.items():
        (folder / name).write_bytes(data)
    (folder / "a_folder.png").mkdir()
    os.symlink("missing.png", folder / "dangling.png")
    os.symlink("self_loop.png", folder / "self_loop.png")
    os.symlink("..", folder / "sub dir" / "up")  # directory loop
    os.symlink(folder, folder / "sub dir" / "again")
    return folder


@pytest.mark.timeout(60)
def test_listing_does_not_follow_symlink_loops(tmp_path):
    folder = hostile_folder(tmp_path)
    names = {path.name for path in list_images(folder)}
    assert names == {f"good_{i}.png" for i in range(6)} | {"visage été.png"} | set(BAD_FILES)


@pytest.mark.timeout(60)
def test_hostile_folder_trains_on_the_good_files_and_lists_the_bad(tmp_path, caplog):
    folder = hostile_folder(tmp_path)
    dm = FaceDataModule(folder, folder, folder, batch_size=3, num_workers=0)
    with caplog.at_level(logging.WARNING, logger="scgan_lightning.data"):
        dm.setup("fit")
    assert len(dm.train_set) == 7 and len(dm.train_set.lr_files) == 7 and len(dm.val_set) == 7
    skipped = {item.path.name: item.reason for item in dm.skipped_files}
    assert set(skipped) == set(BAD_FILES) and len(dm.skipped_files) == len(BAD_FILES)
    assert len(dm.train_set.skipped) == 2 * len(BAD_FILES)  # the folder is both HR and LR
    assert "too large" in skipped["bomb.png"] and all(skipped.values())
    for name in BAD_FILES:
        assert name in dm.skipped_summary and name in caplog.text
    assert dm.skipped_summary.startswith(f"skipped {len(BAD_FILES)} unreadable")
    assert str(folder) not in skipped["zero_bytes.png"]  # the path is not repeated in the reason
    train = list(dm.train_dataloader())
    assert len(train) == 2 and all(b["hr"].shape == (3, 3, 64, 64) for b in train)
    assert sum(len(b["hr"]) for b in dm.val_dataloader()) == 7


def test_only_bad_files_is_an_error_naming_the_folder(tmp_path):
    bad = tmp_path / "bad"
    for name, data in BAD_FILES.items():
        write = bad / name
        write.parent.mkdir(exist_ok=True)
        write.write_bytes(data)
    good = [write_image(tmp_path / "good.png", (16, 16), 9)]
    with pytest.raises(UserError, match=f"no readable LR image among {len(BAD_FILES)} file"):
        UnpairedFaceDataset(good, list_images(bad))
    with pytest.raises(UserError, match=str(bad)):
        UnpairedFaceDataset(good, list_images(bad))


def test_predict_reads_each_bad_file_as_an_error_naming_it(tmp_path):
    for name, data in BAD_FILES.items():
        (tmp_path / name).write_bytes(data)
    samples = read_like_predict(list_images(tmp_path))
    assert len(samples) == len(BAD_FILES)
    for sample in samples:
        assert "lr" not in sample and sample["error"].startswith(sample["path"])


def test_scan_limit_stops_at_enough_usable_files(tmp_path):
    files = [write_image(tmp_path / f"{i}.png", (8, 8), i) for i in range(5)]
    (tmp_path / "0_bad.png").write_bytes(b"junk")
    usable, skipped = scan_images([tmp_path / "0_bad.png", *files], limit=2)
    assert usable == files[:2] and [s.path.name for s in skipped] == ["0_bad.png"]


VALID = [encoded(noisy(24), fmt) for fmt in ("PNG", "JPEG", "WEBP", "BMP")]


def _patch(data: bytes, position: int, patch: bytes) -> bytes:
    position %= len(data)
    return data[:position] + patch + data[position + len(patch) :]


JUNK = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda data, cut: data[:cut], st.sampled_from(VALID), st.integers(0, 3000)),
    st.builds(
        _patch, st.sampled_from(VALID), st.integers(0, 3000), st.binary(min_size=1, max_size=24)
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=JUNK, extension=st.sampled_from(IMAGE_EXTENSIONS))
def test_junk_files_are_either_usable_or_skipped_never_a_crash(data, extension):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"junk{extension}"
        path.write_bytes(data)
        usable, skipped = scan_images([path])
        (sample,) = read_like_predict([path])
        if usable:
            lr = sample["lr"]
            assert lr.shape == (3, 8, 8) and torch.isfinite(lr).all()
        else:
            assert len(skipped) == 1 and skipped[0].reason
            assert sample["error"]  # predict reports the file too, and goes on
