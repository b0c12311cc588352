"""The restorers the page offers, each loaded once and kept for the next request.

The choices are the ``.pt`` files the package ships in ``scgan_lightning/assets`` (the first
is the default every command uses) and a checkpoint file on this computer given by its path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path

from ..errors import UserError
from ..inference import FaceRestorer
from ..inference.models import BUNDLED_RESTORER

FILE_CHOICE = "a checkpoint file (path below)"
KEPT = 3  # restorers kept loaded; the least recently used one beyond this is dropped


def bundled_choices() -> list[str]:
    """``bundled: <name>`` for each restorer in the package, the default first."""
    assets = resources.files("scgan_lightning").joinpath("assets")
    names = sorted(p.name for p in assets.iterdir() if p.name.endswith(".pt"))
    names.sort(key=lambda name: name != BUNDLED_RESTORER)
    return [f"bundled: {name}" for name in names]


def checkpoint_for(choice: str, path: str | None) -> str | None:
    """The checkpoint a choice names: ``None`` for the default bundled restorer, a package
    asset's path, or the user's file."""
    if choice == FILE_CHOICE:
        if not path or not path.strip():
            raise UserError(
                "give the path of a checkpoint file: a training .ckpt, a restorer.pt or the "
                "released pretrained_model.pth"
            )
        return str(Path(path.strip()).expanduser())
    if choice not in bundled_choices():
        raise UserError(f"unknown restorer {choice!r}")
    name = choice.removeprefix("bundled: ")
    if name == BUNDLED_RESTORER:
        return None
    with resources.as_file(resources.files("scgan_lightning").joinpath("assets", name)) as p:
        return str(p)


class RestorerPool:
    """Restorers by checkpoint, loaded on first use with the app's run settings."""

    def __init__(self, device: str, precision: str, channels_last: bool | str) -> None:
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self._loaded: OrderedDict[str | None, FaceRestorer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, checkpoint: str | None) -> FaceRestorer:
        """The restorer of ``checkpoint`` (``None``: the bundled one); a file that cannot be
        loaded raises ``UserError`` naming it."""
        with self._lock:
            if checkpoint not in self._loaded:
                self._loaded[checkpoint] = FaceRestorer.from_checkpoint(
                    checkpoint, self.device, self.precision, channels_last=self.channels_last
                )
                while len(self._loaded) > KEPT:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(checkpoint)
            return self._loaded[checkpoint]
