"""Helpers for the Hydra entry points: instantiate config groups, print and save configs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from .errors import UserError


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, loggers); None = skip."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(cfg)
        for cfg in group.values()
        if cfg is not None and "_target_" in cfg
    ]


def print_config_tree(cfg: DictConfig, order: tuple[str, ...] = ()) -> None:
    """Print the resolved config as a rich tree, top-level groups first in ``order``."""
    import rich
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree("CONFIG", guide_style="dim")
    keys = list(order) + [k for k in cfg if k not in order]
    for key in keys:
        if key not in cfg:
            continue
        value = cfg[key]
        text = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        tree.add(str(key)).add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


def save_resolved_config(cfg: DictConfig, path: str | Path) -> None:
    """The fully resolved config next to Hydra's own ``.hydra/config.yaml``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def exit_on_user_error(func: Callable[..., Any]) -> Callable[..., Any]:
    """Entry-point decorator: a UserError becomes one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper
