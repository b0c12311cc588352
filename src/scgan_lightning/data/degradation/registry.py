"""Degradations by name, by YAML file or by config: the packaged presets are the registry.

A preset is ``conf/degradation/<name>.yaml`` inside the package, the same config group that
``python -m scgan_lightning.train degradation=<name>`` composes, so a chain written for
training is the chain the set builder, validation and evaluation apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from ...errors import UserError
from .chain import Degradation

PRESET_DIR = Path(__file__).resolve().parents[2] / "conf" / "degradation"


def preset_names() -> list[str]:
    """The packaged chains, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_degradation(spec: str | Mapping[str, Any] | DictConfig | Degradation) -> Degradation:
    """A degradation from a preset name, a ``.yaml`` path, a config with ``_target_``, or a
    callable (returned as it is). Errors are one line naming the spec and the choices."""
    if callable(spec) and not isinstance(spec, DictConfig | Mapping):
        return spec
    if isinstance(spec, str):
        return _from_config(_read(spec), spec)
    config = spec if isinstance(spec, DictConfig) else OmegaConf.create(dict(spec))
    return _from_config(config, str(config.get("name", config.get("_target_", "config"))))


def _read(spec: str) -> DictConfig:
    path = Path(spec)
    if path.suffix not in (".yaml", ".yml"):
        path = PRESET_DIR / f"{spec}.yaml"
        if not path.is_file():
            raise UserError(
                f"unknown degradation {spec!r}; choose one of {', '.join(preset_names())} "
                "or give a .yaml file"
            )
    elif not path.is_file():
        raise UserError(f"degradation file not found: {path}")
    config = OmegaConf.load(path)
    if not isinstance(config, DictConfig) or "_target_" not in config:
        raise UserError(f"{path}: a degradation config needs a _target_ (see conf/degradation)")
    return config


def _from_config(config: DictConfig, source: str) -> Degradation:
    try:
        degradation = hydra.utils.instantiate(config, _convert_="all")
    except Exception as err:  # Hydra wraps import and argument errors; keep one line
        cause = err.__cause__ or err
        raise UserError(f"degradation {source}: cannot build it ({cause})") from None
    if not callable(degradation):
        raise UserError(f"degradation {source}: {type(degradation).__name__} is not callable")
    return degradation
