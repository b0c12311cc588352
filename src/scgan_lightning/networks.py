"""Networks by config: a spec is a ``_target_`` (a network class) and its arguments.

Training configs name their networks this way (``model.net``, ``model.degrader``,
``model.discriminator``, lightning-hydra-template's ``net:``), and ``restorer.pt`` stores
the restorer's spec beside its weights, so a file names the network it holds. Specs also come
from files, so a target must be a ``torch.nn.Module`` class and its arguments plain values:
loading a checkpoint never calls anything else.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from torch import nn

from .errors import UserError

TARGET = "_target_"
_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    if isinstance(value, Mapping):
        return TARGET not in value and all(_plain(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def network_class(target: str) -> type[nn.Module]:
    """The class a ``_target_`` names; a ``ValueError`` when it names no network class."""
    module_name, _, name = str(target).rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name) if module_name else None
    except (ImportError, AttributeError):
        found = None
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ValueError(f"_target_ {target!r} names no torch.nn.Module class")
    return found


def check_spec(spec: Any, where: str) -> dict[str, Any]:
    """``spec`` as a plain dict, or a ``UserError`` naming ``where`` and the problem."""
    if not isinstance(spec, Mapping) or TARGET not in spec:
        raise UserError(f"{where}: a network spec needs a {TARGET} (got {spec!r})")
    args = {k: v for k, v in spec.items() if k != TARGET}
    if not _plain(args):
        raise UserError(f"{where}: a network's arguments must be plain values ({spec!r})")
    return {TARGET: str(spec[TARGET]), **args}


def build_network(spec: Mapping[str, Any], where: str = "network", **context: Any) -> nn.Module:
    """The network ``spec`` names, built with its arguments and ``context`` (arguments the
    caller supplies, such as a discriminator's image size)."""
    spec = check_spec(spec, where)
    try:
        cls = network_class(spec[TARGET])
    except ValueError as err:
        raise UserError(f"{where}: {err}") from None
    args = {k: v for k, v in spec.items() if k != TARGET}
    try:
        return cls(**args, **context)
    except TypeError as err:
        raise UserError(f"{where}: {spec[TARGET]} does not take these arguments ({err})") from None


def restorer_spec(width: float) -> dict[str, Any]:
    """The released restorer's architecture at ``width`` (1.0: the released sizes)."""
    return {TARGET: "scgan_lightning.nets.Restorer", "width": float(width)}
