"""Callables by preset name, by YAML file or by config: a packaged config group is a registry.

A preset is ``conf/<group>/<name>.yaml`` inside the package, the same config group that
``python -m scgan_lightning.train <group>=<name>`` composes, so what a training run composes
is what the set builder, validation and evaluation build. Errors are one line naming the spec
and the choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def preset_names(group: str) -> list[str]:
    """The packaged presets of ``group``, sorted."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def load_callable(spec: str | Mapping[str, Any] | DictConfig | Any, group: str, what: str) -> Any:
    """A callable from a preset name of ``group``, a ``.yaml`` path, a config with
    ``_target_``, or a callable (returned as it is); ``what`` names it in errors."""
    if callable(spec) and not isinstance(spec, DictConfig | Mapping):
        return spec
    if isinstance(spec, str):
        return _from_config(_read(spec, group, what), spec, what)
    config = spec if isinstance(spec, DictConfig) else OmegaConf.create(dict(spec))
    return _from_config(config, str(config.get("name", config.get("_target_", "config"))), what)


def _read(spec: str, group: str, what: str) -> DictConfig:
    path = Path(spec)
    if path.suffix not in (".yaml", ".yml"):
        path = CONF_DIR / group / f"{spec}.yaml"
        if not path.is_file():
            raise UserError(
                f"unknown {what} {spec!r}; choose one of {', '.join(preset_names(group))} "
                "or give a .yaml file"
            )
    elif not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    config = OmegaConf.load(path)
    if not isinstance(config, DictConfig) or "_target_" not in config:
        raise UserError(f"{path}: a {what} config needs a _target_ (see conf/{group})")
    return config


def _from_config(config: DictConfig, source: str, what: str) -> Any:
    try:
        built = hydra.utils.instantiate(config, _convert_="all")
    except Exception as err:  # Hydra wraps import and argument errors; keep one line
        cause = err.__cause__ or err
        raise UserError(f"{what} {source}: cannot build it ({cause})") from None
    if not callable(built):
        raise UserError(f"{what} {source}: {type(built).__name__} is not callable")
    return built
