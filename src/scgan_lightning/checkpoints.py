"""The restorer's light checkpoint (``restorer.pt``) and loading a restorer from any source.

Sources: a training ``.ckpt`` (the EMA restorer when it has one), a ``restorer.pt``
(``{"state_dict", "config", "ema"}``), or the authors' released ``pretrained_model.pth``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .atomic import save_torch
from .errors import CheckpointError
from .nets import Restorer
from .released import extract_restorer_state, import_released
from .serialization import load_weights_file

# Attribute names of the restorers inside SCGANModule, hence key prefixes in a ``.ckpt``.
RESTORER_PREFIX = "g_rls."
EMA_PREFIX = "ema_rls."
_RELEASED_MARKER = "layers_in.weight"


@dataclass
class LoadedRestorer:
    """A restorer ready for inference, with where it came from."""

    model: Restorer
    source: str  # "lightning", "restorer", or "released"
    ema: bool
    scale: int = 4


def save_restorer(
    path: str | os.PathLike, restorer: Restorer, config: Mapping[str, Any], ema: bool
) -> None:
    """Write ``{"state_dict", "config", "ema"}`` atomically (``atomic.save_torch``)."""
    state = {k: v.detach().cpu().clone() for k, v in restorer.state_dict().items()}
    payload = {"state_dict": state, "config": dict(config), "ema": bool(ema)}
    save_torch(payload, path)


def _width_of(state: Mapping[str, torch.Tensor], config: Mapping[str, Any], source: str) -> float:
    if "width" in config:
        return float(config["width"])
    if "head.weight" not in state:
        raise CheckpointError(f"{source}: no 'head.weight' key, not a restorer state dict")
    return state["head.weight"].shape[0] / 256


def _restorer_from_state(
    state: Mapping[str, torch.Tensor], config: Mapping[str, Any], source: str
) -> Restorer:
    model = Restorer(width=_width_of(state, config, source))
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
        config = {"width": hparams["width"]} if "width" in hparams else {}
        scale = int(hparams.get("scale", 4))
        model = _restorer_from_state(restorer_state, config, source)
        return LoadedRestorer(model, "lightning", use_ema, scale)

    if "state_dict" in payload and "config" in payload:
        config = payload["config"] or {}
        model = _restorer_from_state(payload["state_dict"], config, source)
        return LoadedRestorer(
            model, "restorer", bool(payload.get("ema")), int(config.get("scale", 4))
        )

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
