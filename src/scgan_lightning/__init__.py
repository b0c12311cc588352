"""scgan_lightning: SCGAN real-world face super-resolution with PyTorch Lightning and Hydra."""

from pathlib import Path

from omegaconf import OmegaConf

__version__ = "0.1.0"

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
