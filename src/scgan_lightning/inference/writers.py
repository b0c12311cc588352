"""Where results go and how a job reports: the output folder, its guard, the summary line."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import UserError
from ..imaging import save_png
from .inputs import InputSet


@dataclass
class Summary:
    """What a job did: images written, inputs skipped by policy or failed; photo-mode faces."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    faces: int = 0
    restored: int = 0
    too_large: int = 0
    max_face: int = 0

    def line(self) -> str:
        parts = [f"done: {self.done}", f"failed: {self.failed}"]
        if self.skipped:
            parts.append(f"skipped: {self.skipped}")
        if self.faces:
            line = faces_line(self.restored, self.too_large, self.max_face)
            parts.append(f"faces found: {self.faces}, {line}")
        return ", ".join(parts)


def faces_line(restored: int, too_large: int, max_face: int) -> str:
    """``restored N, left M larger than K px``: the size policy's outcome."""
    return f"restored {restored}, left {too_large} larger than {max_face} px"


class Outputs:
    """The output folder, output names, and the guard that no input file is written over."""

    def __init__(self, folder: Path, suffix: str, inputs: InputSet) -> None:
        self.folder = folder
        self.suffix = suffix
        self._protected = {item.path.resolve() for item in inputs.items}

    def target(self, rel: Path, subfolder: str = "", tag: str = "") -> Path:
        """``<output>/<subfolder>/<rel><suffix><tag>.png``."""
        base = self.folder / subfolder if subfolder else self.folder
        return base / rel.parent / f"{rel.name}{self.suffix}{tag}.png"

    def save(self, image: np.ndarray | Image.Image, target: Path, fast: bool = False) -> None:
        """``fast``: light compression, for whole photos (a 4x photo is tens of megapixels)."""
        if target.resolve() in self._protected:
            raise UserError(f"{target}: is an input file, not overwritten")
        save_png(image, target, compress_level=1 if fast else 6)


def prepare_output(output: str, inputs: InputSet, suffix: str) -> Path:
    """Check the output folder before any work: not the input folder, creatable, writable."""
    folder = Path(output).expanduser()
    if folder.resolve() == inputs.root.resolve() and not suffix:
        raise UserError(
            f"output {folder} is the input folder; choose another output or set a suffix "
            "(e.g. suffix=_sr)"
        )
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(f"output {folder}: not writable ({err.strerror or err})") from None
    return folder


class Report:
    """Counts results and prints one line per failure or skip (the message names the file)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.summary = Summary()

    def ok(self) -> None:
        self.summary.done += 1

    def fail(self, message: str) -> None:
        self.summary.failed += 1
        self.console.print(f"failed: {message}")

    def skip(self, message: str) -> None:
        self.summary.skipped += 1
        self.console.print(f"skipped: {message}")

    def note(self, message: str) -> None:
        self.console.print(message)


def make_console() -> Console:
    """stderr, no markup (file names may hold brackets), no wrapping (one line per message)."""
    return Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


def make_progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
