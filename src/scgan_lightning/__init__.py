"""scgan_lightning: SCGAN real-world face super-resolution with PyTorch Lightning and Hydra.

The Python API, importable from here (loaded on first use, so that ``import scgan_lightning``
stays light for the commands and the training code):

- ``FaceRestorer``: restore face crops (PIL images, numpy arrays, tensors) or whole photos;
  ``FaceRestorer.from_checkpoint(None)`` loads the bundled restorer;
- ``predict(PredictOptions(input=..., output=...))``: the ``predict`` command's whole job;
- ``PhotoOptions``, ``RestoredFace``: photo mode's options and its per-face results.
"""

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

__version__ = "0.1.0"
__all__ = ["FaceRestorer", "PhotoOptions", "PredictOptions", "RestoredFace", "predict"]

ASSETS = Path(__file__).resolve().parent / "assets"


def _asset(name: str) -> str:
    """``${scgan_asset:NAME}`` in a config: a file shipped in the package, wherever installed."""
    return str(ASSETS / name)


def _set_name(degradation: str, content_shift: str | None = None) -> str:
    """``${scgan_set_name:CHAIN,SHIFT}``: a controlled set's (and its runs') folder name, the
    chain's, joined by ``+`` with the content shift's on the content-gap track."""
    return degradation if content_shift is None else f"{degradation}+{content_shift}"


OmegaConf.register_new_resolver("scgan_asset", _asset, replace=True)
OmegaConf.register_new_resolver("scgan_set_name", _set_name, replace=True)


def __getattr__(name: str) -> Any:
    """The public API, imported when first asked for (module ``__getattr__``, PEP 562)."""
    if name in ("FaceRestorer", "RestoredFace"):
        from .inference import restorer

        return getattr(restorer, name)
    if name in ("PhotoOptions", "PredictOptions"):
        from .inference import options

        return getattr(options, name)
    if name == "predict":
        from .inference.job import predict

        return predict
    raise AttributeError(f"module 'scgan_lightning' has no attribute {name!r}")
