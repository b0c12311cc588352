"""Which restorer a command uses: the given checkpoint, or the one bundled with the package.

``BUNDLED_RESTORER`` is the one name of the default model; every command and the notebook
reach it through ``FaceRestorer.from_checkpoint(None)``, which calls ``load_model``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..checkpoints import LoadedRestorer, load_restorer
from ..errors import UserError

BUNDLED_RESTORER = "scgan_faces_real.pt"


def load_model(ckpt_path: str | None) -> LoadedRestorer:
    """The given checkpoint, or the restorer bundled in ``scgan_lightning/assets``."""
    if ckpt_path:
        return load_restorer(Path(ckpt_path).expanduser())
    bundled = resources.files("scgan_lightning").joinpath("assets", BUNDLED_RESTORER)
    if not bundled.is_file():
        raise UserError(
            f"no ckpt_path given and the bundled checkpoint assets/{BUNDLED_RESTORER} is not "
            "installed; pass ckpt_path=<.ckpt, restorer.pt or released pretrained_model.pth>"
        )
    with resources.as_file(bundled) as path:
        return load_restorer(path)


def model_label(ckpt_path: str | None) -> str:
    """How reports name the model: the path given, or the bundled file."""
    return str(ckpt_path) if ckpt_path else f"bundled {BUNDLED_RESTORER}"
