"""Import of the authors' released SCGAN weights into this project's networks.

The released modules use ``nn.Sequential`` indices and a wrapper-style spectral norm, so their
key names differ from this project's. A table of regular expressions maps each released key to
ours; the released restorer's unused ``a2`` layer is accepted and dropped. The released models
were trained on OpenCV (BGR) images; ``rgb=True`` reorders the first and last layers' channels
so the imported network takes and returns RGB, exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError
from .nets import Restorer
from .networks import build_network, restorer_spec
from .serialization import load_weights_file

KINDS = ("restorer", "degrader", "discriminator_16", "discriminator_64")
# The released architectures as network specs (``networks.py``); the discriminators take their
# image size (16 or 64) where they are built.
RELEASED = {
    "restorer": restorer_spec(1.0),
    "degrader": {
        "_target_": "scgan_lightning.nets.Degrader",
        "width": 1.0,
        "noise_dim": 64,
        "image_size": 64,
    },
    "discriminator": {
        "_target_": "scgan_lightning.nets.Discriminator",
        "width": 1.0,
        "released_backward": True,
    },
}


def released_networks(width: float = 1.0) -> dict[str, dict]:
    """SCGANModule's three network specs (``net``, ``degrader``, ``discriminator``): the released
    architectures, every channel count scaled by ``width``."""
    return {
        "net": {**RELEASED["restorer"], "width": float(width)},
        "degrader": {**RELEASED["degrader"], "width": float(width)},
        "discriminator": {**RELEASED["discriminator"], "width": float(width)},
    }


_DROPPED = object()

# The released restorer's and degrader's keys -> this project's: regular expression and
# replacement, in a data file (null: a key that is dropped).
_KEY_TABLES = json.loads(
    resources.files("scgan_lightning").joinpath("assets", "released_keys.json").read_text()
)
_RESTORER_RULES = [(p, _DROPPED if t is None else t) for p, t in _KEY_TABLES["restorer"]]
_DEGRADER_RULES = [(p, _DROPPED if t is None else t) for p, t in _KEY_TABLES["degrader"]]

_SN = r"module\.(?:(bias)|(weight_bar|weight_u|weight_v))"


def _sn_target(prefix: str):
    """Replacement for a spectral-norm key: bias stays on the layer, the rest on ``.sn``."""

    def replace(match: re.Match) -> str:
        head = match.expand(prefix)
        bias, sn_name = match.group(match.re.groups - 1), match.group(match.re.groups)
        return f"{head}.bias" if bias else f"{head}.sn.{sn_name}"

    return replace


_DISCRIMINATOR_RULES: list[tuple[str, object]] = [
    (rf"residual_blocks\.(\d+)\.conv1\.{_SN}", _sn_target(r"blocks.\1.conv1")),
    (rf"residual_blocks\.(\d+)\.conv2(?:\.1)?\.{_SN}", _sn_target(r"blocks.\1.conv2")),
    (rf"residual_blocks\.(\d+)\.skip(?:\.1)?\.{_SN}", _sn_target(r"blocks.\1.shortcut")),
    (rf"out_layer\.0\.{_SN}", _sn_target("fc1")),
    (rf"out_layer\.2\.{_SN}", _sn_target("fc2")),
]

_RULES = {
    "restorer": _RESTORER_RULES,
    "degrader": _DEGRADER_RULES,
    "discriminator_16": _DISCRIMINATOR_RULES,
    "discriminator_64": _DISCRIMINATOR_RULES,
}


def released_network(kind: str) -> nn.Module:
    """A freshly initialised network of the released architecture and size."""
    if kind in ("discriminator_16", "discriminator_64"):
        size = int(kind.rsplit("_", 1)[1])
        return build_network(RELEASED["discriminator"], kind, image_size=size)
    if kind in RELEASED:
        return build_network(RELEASED[kind], kind)
    raise ValueError(f"unknown network kind {kind!r}; expected one of {', '.join(KINDS)}")


def map_released_key(kind: str, key: str) -> str | None:
    """This project's name for a released key; ``None`` for keys that are dropped.

    Raises ``KeyError`` for a key that the released layout does not have.
    """
    for pattern, target in _RULES[kind]:
        match = re.fullmatch(pattern, key)
        if match is None:
            continue
        if target is _DROPPED:
            return None
        return target(match) if callable(target) else match.expand(target)
    raise KeyError(key)


def _reverse_first_and_last_channels(kind: str, state: dict[str, torch.Tensor]) -> None:
    """Turn a BGR network into the exactly equivalent RGB one, in place."""
    if kind == "restorer":
        state["head.weight"] = state["head.weight"].flip(1)
        state["tail.4.weight"] = state["tail.4.weight"].flip(0)
        state["tail.4.bias"] = state["tail.4.bias"].flip(0)
    elif kind == "degrader":
        head = state["head.weight"]  # input channels: 3 image channels, then the noise plane
        state["head.weight"] = torch.cat([head[:, :3].flip(1), head[:, 3:]], dim=1)
        state["tail.2.weight"] = state["tail.2.weight"].flip(0)
    else:
        for layer in ("blocks.0.conv1.sn", "blocks.0.shortcut.sn"):
            weight = state[f"{layer}.weight_bar"]
            state[f"{layer}.weight_bar"] = weight.flip(1)
            # v lives in the (cin, kh, kw) flattened input space: permute it alongside.
            v = state[f"{layer}.weight_v"].reshape(weight.shape[1], -1)
            state[f"{layer}.weight_v"] = v.flip(0).reshape(-1)


def convert_released_state_dict(
    kind: str, released: Mapping[str, torch.Tensor], rgb: bool = True
) -> dict[str, torch.Tensor]:
    """Rename a released state dict to this project's keys and check it key by key."""
    if kind not in _RULES:
        raise ValueError(f"unknown network kind {kind!r}; expected one of {', '.join(KINDS)}")
    expected = released_network(kind).state_dict()
    converted: dict[str, torch.Tensor] = {}
    for key, value in released.items():
        try:
            ours = map_released_key(kind, key)
        except KeyError:
            raise CheckpointError(
                f"{kind}: unexpected key {key!r} in the released weights"
            ) from None
        if ours is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{kind}: key {key!r} holds {type(value).__name__}, not a tensor")
        if ours not in expected:
            raise CheckpointError(f"{kind}: unexpected key {key!r} in the released weights")
        if tuple(value.shape) != tuple(expected[ours].shape):
            raise CheckpointError(
                f"{kind}: key {key!r} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[ours].shape)}"
            )
        converted[ours] = value
    missing = sorted(set(expected) - set(converted))
    if missing:
        raise CheckpointError(
            f"{kind}: the released weights miss {len(missing)} key(s), first {missing[0]!r}"
        )
    if rgb:
        _reverse_first_and_last_channels(kind, converted)
    return converted


def import_released(kind: str, state_dict: Mapping[str, torch.Tensor], rgb: bool = True):
    """A network of ``kind`` holding the released weights (RGB in/out when ``rgb``)."""
    network = released_network(kind)
    network.load_state_dict(convert_released_state_dict(kind, state_dict, rgb=rgb))
    return network


def extract_restorer_state(payload: object, source: str) -> Mapping[str, torch.Tensor]:
    """The restorer's state dict inside a released file: ``G_l2h``, ``G_RLS`` or bare."""
    if not isinstance(payload, Mapping):
        raise CheckpointError(
            f"{source}: expected a dict of tensors, found {type(payload).__name__}"
        )
    for key in ("G_l2h", "G_RLS"):
        if key in payload:
            inner = payload[key]
            if not isinstance(inner, Mapping):
                raise CheckpointError(f"{source}: {key!r} is not a state dict")
            return inner
    if payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload
    raise CheckpointError(
        f"{source}: no restorer weights found (expected key 'G_l2h' or 'G_RLS', or a bare "
        "state dict)"
    )


def load_released_checkpoint(path: str | Path, rgb: bool = True) -> Restorer:
    """The released ``pretrained_model.pth`` as an RGB ``Restorer`` in eval mode."""
    payload = load_weights_file(path)
    try:
        restorer = import_released("restorer", extract_restorer_state(payload, str(path)), rgb)
    except CheckpointError as err:
        message = str(err)
        prefixed = message if message.startswith(str(path)) else f"{path}: {message}"
        raise CheckpointError(prefixed) from None
    return restorer.eval()
