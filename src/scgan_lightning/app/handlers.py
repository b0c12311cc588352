"""What the page's buttons do: each request turned into ``photo`` / ``crops`` work.

Every problem a user can act on (a bad file, a checkpoint that does not load, options that
do not fit) comes back as the status line's text, so the page answers it and the server goes
on. No Gradio here: the page passes plain values in and shows what comes back.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..inference.options import PhotoOptions
from .crops import restore_crop_uploads
from .photo import DECISION_HEADERS, restore_photo_upload
from .restorers import RestorerPool, checkpoint_for


class Handlers:
    """What the buttons do: the restorer pool, the pixel limit and where results go."""

    def __init__(self, pool: RestorerPool, max_pixels: int, results: Path) -> None:
        self.pool = pool
        self.max_pixels = max_pixels
        self.results = results

    def _in_folder(self, work: Callable[[Path], Any]) -> Any:
        """``work`` in a fresh folder of its own, removed again when the work fails."""
        folder = Path(tempfile.mkdtemp(dir=self.results))
        try:
            return work(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def photo(
        self,
        upload: str | None,
        choice: str,
        ckpt_path: str,
        max_face: float,
        feather: float,
        margin: float,
        detector: str,
        min_face: float,
    ) -> tuple[Any, ...]:
        """Status, (bicubic, restored) for the slider, face pairs, decisions, downloads."""
        failed = (None, [], decision_table([]), None)
        if not upload:
            return ("Choose a photo first.", *failed)
        try:
            options = PhotoOptions(
                detector=detector,
                min_face=int(min_face),
                max_face=int(max_face),
                margin=float(margin),
                feather=float(feather),
            )
            restorer = self.pool.get(checkpoint_for(choice, ckpt_path)).with_photo(options)
            outcome = self._in_folder(
                lambda folder: restore_photo_upload(restorer, upload, folder, self.max_pixels)
            )
        except UserError as err:
            return (_refused(str(err)), *failed)
        except MemoryError:
            return (_refused(f"{Path(upload).name}: not enough memory for it here"), *failed)
        return (
            f"**Restored.** {outcome.summary}",
            (str(outcome.bicubic), str(outcome.restored)),
            outcome.gallery,
            decision_table(outcome.decisions),
            [str(p) for p in outcome.downloads],
        )

    def crops(
        self, uploads: list[str] | None, choice: str, ckpt_path: str, allow_downscale: bool
    ) -> tuple[Any, ...]:
        """Status (a line per crop not restored), input | restored pairs, the zip."""
        if not uploads:
            return "Choose one or more face crops first.", [], None
        try:
            restorer = self.pool.get(checkpoint_for(choice, ckpt_path))
            outcome = self._in_folder(
                lambda folder: restore_crop_uploads(
                    restorer, uploads, folder, self.max_pixels, allow_downscale
                )
            )
        except UserError as err:
            return _refused(str(err)), [], None
        lines = [f"**{outcome.summary}.**"]
        lines += [f"- not restored: {problem}" for problem in outcome.problems]
        archive = str(outcome.archive) if outcome.archive else None
        return "\n".join(lines), outcome.gallery, archive


def _refused(message: str) -> str:
    return f"**Not restored:** {message}"


def decision_table(rows: list[list[str | int]]) -> dict[str, Any]:
    """The decisions as the page's table takes them (headers kept when there are no rows)."""
    return {"headers": DECISION_HEADERS, "data": rows}
