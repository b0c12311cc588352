"""scgan_lightning: SCGAN real-world face super-resolution with PyTorch Lightning and Hydra."""

from pathlib import Path

from omegaconf import OmegaConf

__version__ = "0.1.0"

ASSETS = Path(__file__).resolve().parent / "assets"


def _asset(name: str) -> str:
    """``${scgan_asset:NAME}`` in a config: a file shipped in the package, wherever installed."""
    return str(ASSETS / name)


OmegaConf.register_new_resolver("scgan_asset", _asset, replace=True)
