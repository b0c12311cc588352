"""The helper layer shared by train, predict, evaluate and export.

One user-error exit, one device choice, one size check, and unknown config keys answered with
the closest valid key. Hydra is imported only where a config group is instantiated, so the
inference engine can use these helpers without it.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from .errors import UserError

CONFIG_PACKAGE = "scgan_lightning.conf"


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, loggers); None = skip."""
    import hydra

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


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for a GPU that is not there is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(
            f"device={name!r} is not a torch device (auto, cpu, cuda, cuda:1)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA GPU is available; use device=cpu or auto")
    return device


def check_scale(hr_size: int, scale: int, key: str = "hr_size") -> int:
    """The model's input side for output side ``hr_size``; it must divide by the scale."""
    if hr_size <= 0 or hr_size % scale:
        raise UserError(f"{key}={hr_size} must be a positive multiple of the scale {scale}")
    return hr_size // scale


def closest(key: str, valid: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the nearest valid key, or nothing when none is close."""
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def unknown_key(key: str, valid: Iterable[str], config: str) -> UserError:
    where = f"src/scgan_lightning/conf/{config}.yaml"
    return UserError(f"unknown config key {key}{closest(key, valid)}; see {where}")


def dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """Every key of a plain (unresolved) config container as a dotted path
    (``photo.max_face``), branches included."""
    keys: list[str] = []
    if isinstance(node, dict):
        for name, value in node.items():
            path = f"{prefix}{name}"
            keys.append(path)
            keys.extend(dotted_keys(value, f"{path}."))
    return keys


def check_overrides(config_name: str, args: Sequence[str]) -> None:
    """Refuse ``key=value`` overrides of keys the config does not have, naming the closest.

    The config is composed with the command's group choices (``experiment=demo``), so keys a
    group brings count; ``+key``, ``~key``, ``hydra.*`` and group choices are left to Hydra.
    """
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    assignments = [a for a in args if "=" in a and not a.startswith(("+", "~", "-", "hydra"))]
    groups = resources.files(CONFIG_PACKAGE)
    choices = [a for a in assignments if groups.joinpath(a.split("=", 1)[0]).is_dir()]
    try:
        with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
            cfg = compose(config_name, overrides=choices)
    except HydraException:
        return  # a bad group choice: Hydra's own message names it
    valid = dotted_keys(OmegaConf.to_container(cfg, resolve=False))
    for assignment in assignments:
        key = assignment.split("=", 1)[0]
        if assignment not in choices and key not in valid:
            raise unknown_key(key, valid, config_name)


def cli(config_name: str, hydra_main: Callable[[], Any]) -> Callable[[], Any]:
    """A console entry: check the command line's keys, then hand over to Hydra."""

    @wraps(hydra_main)
    def entry() -> Any:
        exit_on_user_error(check_overrides)(config_name, sys.argv[1:])
        return hydra_main()

    return entry
