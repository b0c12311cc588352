"""Build SCGAN's two unpaired face sets from public releases a user has downloaded.

- HR: a folder of aligned face photos (CelebA ``img_align_celeba``, FFHQ thumbnails, ...),
  each centre-cropped square (optionally tighter, around the face) and resized to ``hr_size``.
- Real LR: the small faces of WIDER FACE, read from its box annotation file
  (``wider_face_train_bbx_gt.txt``): faces whose larger side lies in [min_face, max_face], not
  marked invalid, cropped square around the box with a margin (edge pixels repeated where the
  square leaves the photo) and resized to ``lr_size``. That is the recipe of SCGAN's LOW set
  (and of Bulat et al. 2018).

Both sets are split deterministically (every ``holdout_every``-th file by sorted name), so the
same download always gives the same folders. Files are written as PNG; nothing is overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from ..imaging import ImageReadError, list_images, read_rgb, save_png

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WiderBox:
    """One annotated face: the photo it is in (relative to the images folder) and its box."""

    image: str
    x: int
    y: int
    width: int
    height: int
    invalid: bool


def _ints(line: str, path: Path, number: int) -> list[int]:
    try:
        return [int(float(value)) for value in line.split()]
    except ValueError:
        raise UserError(f"{path}:{number}: expected numbers, found {line.strip()!r}") from None


def parse_wider_annotations(path: str | Path) -> list[WiderBox]:
    """Every box of a WIDER FACE ``*_bbx_gt.txt`` file.

    The format: a photo's relative path, its number of faces N, then N lines
    ``x y w h blur expression illumination invalid occlusion pose``; a photo with N = 0 is
    followed by one line of zeros.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: no such annotation file (WIDER FACE wider_face_*_bbx_gt.txt)")
    lines = path.read_text().splitlines()
    boxes: list[WiderBox] = []
    index = 0
    while index < len(lines):
        name = lines[index].strip()
        if not name:
            index += 1
            continue
        if index + 1 >= len(lines):
            raise UserError(f"{path}:{index + 1}: {name!r} has no face count")
        counts = _ints(lines[index + 1], path, index + 2)
        count = counts[0] if counts else 0
        rows = max(count, 1)
        for offset in range(count):
            number = index + 3 + offset
            if number > len(lines):
                raise UserError(f"{path}: {name!r} announces {count} faces, the file ends first")
            values = _ints(lines[number - 1], path, number)
            if len(values) < 4:
                raise UserError(f"{path}:{number}: a box needs x y w h, found {values}")
            invalid = len(values) > 7 and values[7] == 1
            boxes.append(WiderBox(name, *values[:4], invalid))
        index += 2 + rows
    return boxes


def square_around(box: WiderBox, margin: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square centred on ``box``, side = larger side x (1+m)."""
    side = max(1, round(max(box.width, box.height) * (1.0 + margin)))
    centre_x = box.x + box.width / 2
    centre_y = box.y + box.height / 2
    left = round(centre_x - side / 2)
    top = round(centre_y - side / 2)
    return left, top, left + side, top + side


def crop_padded(image: Image.Image, square: tuple[int, int, int, int]) -> Image.Image | None:
    """Crop ``square``; where it leaves the photo, the nearest edge pixels are repeated.

    ``None`` when the square does not overlap the photo at all (a broken annotation).
    """
    left, top, right, bottom = square
    array = np.asarray(image)
    height, width = array.shape[:2]
    inner = array[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    if inner.size == 0:
        return None
    pads = (
        (max(-top, 0), max(bottom - height, 0)),
        (max(-left, 0), max(right - width, 0)),
        (0, 0),
    )
    return Image.fromarray(np.pad(inner, pads, mode="edge"))


def _split(index: int, holdout_every: int) -> str:
    return "heldout" if holdout_every and (index + 1) % holdout_every == 0 else "train"


def _fresh_folder(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder}: exists and is not empty; choose a new output folder")
    folder.mkdir(parents=True, exist_ok=True)


@dataclass
class BuildSummary:
    """What a build wrote, and what it could not read."""

    written: dict[str, int]
    failures: list[str]

    def line(self) -> str:
        counts = ", ".join(f"{count} {name}" for name, count in self.written.items())
        return f"wrote {counts}; {len(self.failures)} unreadable"


def build_hr_set(
    source: str | Path,
    output: str | Path,
    *,
    hr_size: int = 64,
    crop_fraction: float = 1.0,
    val_every: int = 10,
    limit: int | None = None,
) -> BuildSummary:
    """HR faces into ``output/train`` and ``output/val`` (every ``val_every``-th file).

    ``crop_fraction`` keeps that fraction of the centred square (e.g. 0.7 for CelebA's aligned
    178x218 photos, whose face fills the middle); 1.0 keeps the whole square.
    """
    if not 0.1 <= crop_fraction <= 1.0:
        raise UserError(f"crop_fraction={crop_fraction} must be in [0.1, 1]")
    source = Path(source).expanduser()
    if not source.is_dir():
        raise UserError(f"{source}: no such folder (the aligned HR face photos)")
    files = list_images(source)[:limit] if limit else list_images(source)
    if not files:
        raise UserError(f"{source}: no images (.png, .jpg, .jpeg, .bmp, .webp) found")
    output = Path(output).expanduser()
    for split in ("train", "val"):
        _fresh_folder(output / split)
    summary = BuildSummary({"train": 0, "val": 0}, [])
    for index, file in enumerate(files):
        try:
            image = read_rgb(file)
        except ImageReadError as err:
            summary.failures.append(str(err))
            continue
        width, height = image.size
        side = max(1, round(min(width, height) * crop_fraction))
        left, top = (width - side) // 2, (height - side) // 2
        face = image.crop((left, top, left + side, top + side))
        face = face.resize((hr_size, hr_size), Image.Resampling.LANCZOS)
        split = "val" if _split(index, val_every) == "heldout" else "train"
        save_png(face, output / split / f"{index:06d}.png")
        summary.written[split] += 1
    return summary


def _photos_in_order(boxes: list[WiderBox]) -> Iterator[tuple[str, list[WiderBox]]]:
    by_photo: dict[str, list[WiderBox]] = {}
    for box in boxes:
        by_photo.setdefault(box.image, []).append(box)
    yield from by_photo.items()


def build_lr_set(
    images_dir: str | Path,
    annotations: str | Path,
    output: str | Path,
    *,
    lr_size: int = 16,
    min_face: int = 10,
    max_face: int = 36,
    margin: float = 0.25,
    holdout_every: int = 10,
    limit: int | None = None,
) -> BuildSummary:
    """Real LR faces into ``output/train`` and ``output/heldout`` (every ``holdout_every``-th).

    Faces whose larger side is in ``[min_face, max_face]`` pixels and not marked invalid are
    kept; the defaults follow SCGAN's LOW set (tiny WIDER FACE faces, under 37 px).
    """
    if not 1 <= min_face <= max_face:
        raise UserError(f"need 1 <= min_face <= max_face, got {min_face} and {max_face}")
    images_dir = Path(images_dir).expanduser()
    if not images_dir.is_dir():
        raise UserError(f"{images_dir}: no such folder (WIDER FACE WIDER_*/images)")
    boxes = [
        box
        for box in parse_wider_annotations(annotations)
        if not box.invalid and min_face <= max(box.width, box.height) <= max_face
    ]
    output = Path(output).expanduser()
    for split in ("train", "heldout"):
        _fresh_folder(output / split)
    summary = BuildSummary({"train": 0, "heldout": 0}, [])
    index = 0
    for name, faces in _photos_in_order(boxes):
        if limit is not None and index >= limit:
            break
        try:
            photo = read_rgb(images_dir / name)
        except ImageReadError as err:
            summary.failures.append(str(err))
            continue
        for box in faces:
            if limit is not None and index >= limit:
                break
            face = crop_padded(photo, square_around(box, margin))
            if face is None:
                summary.failures.append(f"{images_dir / name}: box {box} lies outside the photo")
                continue
            face = face.resize((lr_size, lr_size), Image.Resampling.LANCZOS)
            split = _split(index, holdout_every)
            save_png(face, output / split / f"{index:06d}.png")
            summary.written[split] += 1
            index += 1
    return summary
