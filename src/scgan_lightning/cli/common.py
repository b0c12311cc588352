"""What every command shares, in lightning-hydra-template's shape.

``task_wrapper`` wraps each Hydra task (a ``UserError`` becomes one line and exit status 2;
W&B runs are closed even when the task fails, so the next multirun job opens its own),
``extras`` runs before the task (the config tree, the resolved config file), and ``cli``
answers a misspelt key with the closest valid one before Hydra runs.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..atomic import write_text
from ..errors import UserError
from .quiet import quiet_known_noise

CONFIG_PACKAGE = "scgan_lightning.conf"
# The resolved config every command writes into its run directory (``extras``).
RESOLVED_CONFIG = "config_resolved.yaml"


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
    write_text(path, OmegaConf.to_yaml(cfg, resolve=True))


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


def task_wrapper(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """A Hydra task with one-line user errors, whose W&B run is finished however it ends."""

    @exit_on_user_error
    @wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        finally:
            wandb = sys.modules.get("wandb")
            if wandb is not None and wandb.run is not None:
                wandb.finish()

    return wrapper


def extras(cfg: DictConfig, order: tuple[str, ...] = ()) -> None:
    """Before the task: print the config tree (``print_config``) and write
    ``config_resolved.yaml`` into the run directory."""
    if cfg.get("print_config"):
        print_config_tree(cfg, order)
    save_resolved_config(cfg, Path(cfg.paths.output_dir) / RESOLVED_CONFIG)


def closest(key: str, valid: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the nearest valid key, or nothing when none is close."""
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def unknown_key(key: str, valid: Iterable[str], config: str) -> UserError:
    where = f"src/scgan_lightning/conf/{config}.yaml"
    return UserError(f"unknown config key {key}{closest(key, valid)}; see {where}")


def dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """Every key of a plain (unresolved) config container as a dotted path
    (``trainer.max_epochs``), branches included."""
    keys: list[str] = []
    if isinstance(node, dict):
        for name, value in node.items():
            path = f"{prefix}{name}"
            keys.append(path)
            keys.extend(dotted_keys(value, f"{path}."))
    return keys


def check_overrides(
    config_name: str, args: Sequence[str], valid: Sequence[str] | None = None
) -> None:
    """Refuse ``key=value`` overrides of keys the command does not have, naming the closest.

    ``valid``: the command's keys, when they are known without Hydra (predict's options); every
    override is then checked, ``+key`` and ``~key`` included. Otherwise the config is composed
    with the command's group choices (``experiment=demo``), so keys a group brings count, and
    ``+key``, ``~key``, ``hydra.*`` and group choices are left to Hydra.
    """
    overrides = [a for a in args if "=" in a and not a.startswith(("-", "hydra"))]
    if valid is not None:
        for override in overrides:
            key = override.split("=", 1)[0].lstrip("+~")
            if not key.startswith("hydra.") and key not in valid:
                raise unknown_key(key, valid, config_name)
        return
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    assignments = [a for a in overrides if not a.startswith(("+", "~"))]
    groups = resources.files(CONFIG_PACKAGE)
    choices = [a for a in assignments if groups.joinpath(a.split("=", 1)[0]).is_dir()]
    try:
        with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
            cfg = compose(config_name, overrides=choices)
    except HydraException:
        return  # a bad group choice: Hydra's own message names it
    keys = dotted_keys(OmegaConf.to_container(cfg, resolve=False))
    for assignment in assignments:
        key = assignment.split("=", 1)[0]
        if assignment not in choices and key not in keys:
            raise unknown_key(key, keys, config_name)


def cli(
    config_name: str, hydra_main: Callable[[], Any], valid: Sequence[str] | None = None
) -> Callable[[], Any]:
    """A console entry: silence known third-party noise (``quiet``), check the command line's
    keys (``check_overrides``), then run Hydra."""

    @wraps(hydra_main)
    def entry() -> Any:
        quiet_known_noise()
        exit_on_user_error(check_overrides)(config_name, sys.argv[1:], valid)
        return hydra_main()

    return entry
