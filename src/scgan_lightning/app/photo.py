"""A whole photo through photo mode, as files a page can show and offer for download.

The 4x bicubic photo and the restored one are written one after the other, so memory holds
one 4x canvas at a time; the faces come back as before | after pairs with their boxes, and
each face photo mode found gets a row saying what it decided and why.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..imaging import resize, save_png
from ..inference import FaceRestorer
from ..inference.photo_mode import PhotoResult, upscale
from ..inference.writers import faces_line
from .uploads import read_upload

DECISION_HEADERS = ["face", "decision", "x", "y", "side (px)", "why"]


@dataclass
class PhotoOutcome:
    """What the page shows for one photo: paths are PNG files in the request's folder."""

    summary: str
    bicubic: Path
    restored: Path
    gallery: list[tuple[str, str]] = field(default_factory=list)  # (pair image, caption)
    decisions: list[list[str | int]] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)


def restore_photo_upload(
    restorer: FaceRestorer, upload: str | Path, folder: Path, max_pixels: int
) -> PhotoOutcome:
    """Restore the photo ``upload`` with ``restorer`` (its photo options), writing into
    ``folder``. An unreadable or oversized upload raises ``ImageReadError`` naming it."""
    name = Path(upload).name
    stem = Path(upload).stem
    image = read_upload(upload, max_pixels)
    bicubic = folder / f"{stem}_x{restorer.scale}_bicubic.png"
    save_png(upscale(image, restorer.scale), bicubic, compress_level=1)
    result = restorer.process_photo(image)
    restored = folder / f"{stem}_x{restorer.scale}_restored.png"
    save_png(result.canvas, restored, compress_level=1)
    height, width = result.canvas.shape[:2]
    summary = (
        f"{name}: {image.width}x{image.height} -> {width}x{height}; {result.found} faces found, "
        f"{faces_line(result.restored, result.too_large, restorer.photo.max_face)}"
    )
    outcome = PhotoOutcome(summary, bicubic, restored, decisions=decisions(result, restorer))
    outcome.gallery = _face_pairs(result, restorer.hr_size, folder / "faces")
    faces_zip = folder / f"{stem}_faces.zip"
    faces_zip.write_bytes(_faces_archive(result, stem, outcome.decisions))
    outcome.downloads = [restored, bicubic, faces_zip]
    return outcome


def decisions(result: PhotoResult, restorer: FaceRestorer) -> list[list[str | int]]:
    """One row per face found: restored ones first (numbered as the gallery), then those left
    to the bicubic background, each with photo mode's reason."""
    limit = restorer.photo.max_face
    lr = restorer.lr_size
    rows: list[list[str | int]] = []
    for k, face in enumerate(result.faces, 1):
        why = f"at most {limit} px: restored through the {lr}x{lr} input"
        rows.append([k, "restored", face.box.x, face.box.y, face.box.side, why])
    for k, box in enumerate(result.left, len(result.faces) + 1):
        why = (
            f"larger than {limit} px (photo.max_face): its 4x bicubic beats restoring it "
            f"through the {lr}x{lr} input"
        )
        rows.append([k, "left as it was", box.x, box.y, box.side, why])
    return rows


def _face_pairs(result: PhotoResult, size: int, folder: Path) -> list[tuple[str, str]]:
    """Each restored face beside the crop the network read (bicubic to the same size)."""
    pairs = []
    for k, face in enumerate(result.faces, 1):
        pair = Image.new("RGB", (2 * size, size))
        pair.paste(resize(face.lr, size), (0, 0))
        pair.paste(face.sr, (size, 0))
        path = folder / f"face_{k:04d}.png"
        save_png(pair, path)
        box = face.box
        pairs.append((str(path), f"face {k}: {box.side} px at ({box.x}, {box.y})"))
    return pairs


def _faces_archive(result: PhotoResult, stem: str, rows: list[list[str | int]]) -> bytes:
    """A zip of every restored face (``<stem>_<k>_lr.png``, the crop the network read, and
    ``_sr.png``, numbered as the gallery) and the decisions as CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, face in enumerate(result.faces, 1):
            archive.writestr(f"{stem}_{k}_lr.png", _png(face.lr))
            archive.writestr(f"{stem}_{k}_sr.png", _png(face.sr))
        table = io.StringIO()
        csv.writer(table).writerows([DECISION_HEADERS, *rows])
        archive.writestr(f"{stem}_faces.csv", table.getvalue())
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
