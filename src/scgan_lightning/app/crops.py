"""Face crops through the restorer, as files a page can show and offer for download.

As ``scgan-predict`` (face mode) does, a crop larger than the model's input is reported, not
silently shrunk, unless the user allows it; a file that cannot be read is reported and the
others are restored.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..imaging import ImageReadError, resize, save_png
from ..inference import FaceRestorer
from ..inference.face_mode import too_large_reason
from .uploads import read_upload


@dataclass
class CropsOutcome:
    """What the page shows for a set of crops: a summary, one line per crop not restored,
    input | restored pairs and a zip of the restored faces (none when nothing was restored)."""

    summary: str
    problems: list[str] = field(default_factory=list)
    gallery: list[tuple[str, str]] = field(default_factory=list)
    archive: Path | None = None


def restore_crop_uploads(
    restorer: FaceRestorer,
    uploads: Sequence[str | Path],
    folder: Path,
    max_pixels: int,
    allow_downscale: bool = False,
) -> CropsOutcome:
    """Restore every readable crop of ``uploads`` that fits the model's input (any size with
    ``allow_downscale``), writing into ``folder``."""
    names, images, problems = [], [], []
    for upload in uploads:
        name = Path(upload).name
        try:
            image = read_upload(upload, max_pixels)
        except ImageReadError as err:
            problems.append(str(err))
            continue
        if max(image.size) > restorer.lr_size and not allow_downscale:
            problems.append(too_large_reason(name, image.size, restorer.lr_size))
            continue
        names.append(name)
        images.append(image)
    restored = restorer.restore_faces(images)
    outcome = CropsOutcome(f"Restored {len(images)} of {len(uploads)} crops", problems)
    size = restorer.hr_size
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, (name, image, sr) in enumerate(zip(names, images, restored, strict=True), 1):
            pair = Image.new("RGB", (2 * size, size))
            pair.paste(resize(image, size), (0, 0))
            pair.paste(sr, (size, 0))
            path = folder / f"crop_{k:04d}.png"
            save_png(pair, path)
            outcome.gallery.append((str(path), f"{k}: {name}"))
            png = io.BytesIO()
            sr.save(png, format="PNG")
            archive.writestr(f"{k}_{Path(name).stem}_sr.png", png.getvalue())
    if images:
        outcome.archive = folder / "restored_crops.zip"
        outcome.archive.write_bytes(buffer.getvalue())
    return outcome
