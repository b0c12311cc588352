"""The restorer's light checkpoint (``restorer.pt``) and loading a restorer from any source.

Sources: a training ``.ckpt`` (the EMA restorer when it has one), a ``restorer.pt``
(``{"state_dict", "net", "config", "ema"}``: ``net`` is the network's spec, ``networks.py``,
so the file names its network), or the authors' released ``pretrained_model.pth``. Training
checkpoints and restorer files that give a ``width`` instead of a spec hold the released
architecture at that width.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import save_torch
from .errors import CheckpointError, UserError
from .networks import build_network, check_spec, restorer_spec
from .released import RELEASED, extract_restorer_state, import_released
from .serialization import load_weights_file

# Attribute names of the restorers inside the training modules, hence key prefixes in a .ckpt.
RESTORER_PREFIX = "g_rls."
EMA_PREFIX = "ema_rls."
_RELEASED_MARKER = "layers_in.weight"


@dataclass
class LoadedRestorer:
    """A restorer ready for inference, with where it came from and the spec that builds it."""

    model: nn.Module
    source: str  # "lightning", "restorer", or "released"
    ema: bool
    scale: int = 4
    net: dict[str, Any] = field(default_factory=lambda: dict(RELEASED["restorer"]))


def save_restorer(
    path: str | os.PathLike,
    restorer: nn.Module,
    net: Mapping[str, Any],
    config: Mapping[str, Any],
    ema: bool,
) -> None:
    """Write ``{"state_dict", "net", "config", "ema"}`` atomically (``atomic.save_torch``):
    ``net`` is the spec ``restorer`` was built from, ``config`` says what it restores
    (``hr_size``, ``scale``) and how it was made."""
    state = {k: v.detach().cpu().clone() for k, v in restorer.state_dict().items()}
    spec = check_spec(net, str(path))
    payload = {"state_dict": state, "net": spec, "config": dict(config), "ema": bool(ema)}
    save_torch(payload, path)


def restorer_net(
    saved: Mapping[str, Any], state: Mapping[str, torch.Tensor], source: str
) -> dict[str, Any]:
    """The restorer spec a file's ``net`` names; files written before specs existed hold the
    released architecture at their ``width``, or at the width their first layer's shape gives."""
    if "net" in saved:
        try:
            return check_spec(saved["net"], source)
        except UserError as err:
            raise CheckpointError(str(err)) from None
    if "width" in saved:
        return restorer_spec(saved["width"])
    if "head.weight" not in state:
        raise CheckpointError(
            f"{source}: names no restorer network (no 'net' spec, no 'width') and holds no "
            "'head.weight' to infer the released one's width from"
        )
    return restorer_spec(state["head.weight"].shape[0] / 256)


def degrader_net(hparams: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The G_DHL spec a training checkpoint's hyper-parameters name: its ``degrader`` spec, or
    for hyper-parameters that give widths and a ``degrader.kind`` instead, the network those
    describe."""
    degrader = hparams.get("degrader") or {}
    if "_target_" in degrader:
        return check_spec(degrader, source)
    options = {k: v for k, v in degrader.items() if k not in ("kind", "lr")}
    width = hparams.get("degrader_width") or hparams.get("width", 1.0)
    base = {
        "width": float(width),
        "noise_dim": int(hparams.get("noise_dim", 64)),
        "image_size": int(hparams.get("hr_size", 64)),
    }
    if degrader.get("kind", "released") == "explicit":
        target = "scgan_lightning.nets.ExplicitDegrader"
        return {"_target_": target, **base, "scale": int(hparams.get("scale", 4)), **options}
    return {"_target_": "scgan_lightning.nets.Degrader", **base}


def _restorer_from_state(
    state: Mapping[str, torch.Tensor], net: Mapping[str, Any], source: str
) -> nn.Module:
    try:
        model = build_network(net, source)
    except UserError as err:
        raise CheckpointError(str(err)) from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        first = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise CheckpointError(
            f"{source}: restorer keys do not fit ({len(missing)} missing, "
            f"{len(unexpected)} unexpected; {first})"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{source}: key {key!r} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def _strip(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_restorer(path: str | os.PathLike, prefer_ema: bool = True) -> LoadedRestorer:
    """Load an inference restorer (eval mode, float32, RGB) from any supported file."""
    source = str(path)
    payload = load_weights_file(path)
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{source}: expected a dict, found {type(payload).__name__}")

    if _is_lightning(payload):
        state = payload.get("state_dict", {})
        hparams = payload.get("hyper_parameters", {}) or {}
        ema = _strip(state, EMA_PREFIX)
        use_ema = prefer_ema and bool(ema)
        restorer_state = ema if use_ema else _strip(state, RESTORER_PREFIX)
        if not restorer_state:
            raise CheckpointError(f"{source}: a Lightning checkpoint without restorer weights")
        net = restorer_net(hparams, restorer_state, source)
        model = _restorer_from_state(restorer_state, net, source)
        return LoadedRestorer(model, "lightning", use_ema, int(hparams.get("scale", 4)), net)

    if "state_dict" in payload and "config" in payload:
        config = payload["config"] or {}
        net = restorer_net(payload if "net" in payload else config, payload["state_dict"], source)
        model = _restorer_from_state(payload["state_dict"], net, source)
        scale = int(config.get("scale", 4))
        return LoadedRestorer(model, "restorer", bool(payload.get("ema")), scale, net)

    released = extract_restorer_state(payload, source)
    if _RELEASED_MARKER not in released:
        raise CheckpointError(
            f"{source}: not a training .ckpt, a restorer.pt or the released restorer "
            f"(no {_RELEASED_MARKER!r} key)"
        )
    try:
        model = import_released("restorer", released, rgb=True)
    except CheckpointError as err:
        raise CheckpointError(f"{source}: {err}") from None
    return LoadedRestorer(model.eval(), "released", False, 4)


def _is_lightning(payload: Mapping[str, Any]) -> bool:
    return (
        "pytorch-lightning_version" in payload
        or "lightning_version" in payload
        or ("state_dict" in payload and "hyper_parameters" in payload)
    )


# Networks a training run can start from, by their attribute names in SCGANModule.
TRAINABLE_NETWORKS = ("g_dhl", "g_rls", "g_dsl", "d_l1", "d_l2", "d_h1", "d_h2", "ema_rls")


def initial_states(path: str | os.PathLike) -> dict[str, dict[str, torch.Tensor]]:
    """Per-network state dicts to start a run from (``model.init_from``).

    A training ``.ckpt`` gives every network it holds; a ``restorer.pt`` or the released file
    gives the restorer (and its EMA copy). Optimiser state and counters are not read: this is
    a warm start, not a resume.
    """
    source = str(path)
    if not Path(path).expanduser().is_file():
        raise CheckpointError(f"{source}: no such file (model.init_from)")
    payload = load_weights_file(path)
    if isinstance(payload, Mapping) and _is_lightning(payload):
        state = payload.get("state_dict", {})
        states = {name: _strip(state, f"{name}.") for name in TRAINABLE_NETWORKS}
        states = {name: s for name, s in states.items() if s}
        if not states:
            raise CheckpointError(f"{source}: a Lightning checkpoint without SCGAN networks")
        return states
    restorer = load_restorer(path).model.state_dict()
    return {"g_rls": restorer, "ema_rls": restorer}
