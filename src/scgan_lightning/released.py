"""Import of the authors' released SCGAN weights into this project's networks.

The released modules use ``nn.Sequential`` indices and a wrapper-style spectral norm, so their
key names differ from this project's. A table of regular expressions maps each released key to
ours; the released restorer's unused ``a2`` layer is accepted and dropped. The released models
were trained on OpenCV (BGR) images; ``rgb=True`` reorders the first and last layers' channels
so the imported network takes and returns RGB, exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError
from .nets import Degrader, Discriminator, Restorer
from .serialization import load_weights_file

KINDS = ("restorer", "degrader", "discriminator_16", "discriminator_64")

_DROPPED = object()

_RESTORER_RULES: list[tuple[str, object]] = [
    (r"layers_in\.weight", "head.weight"),
    (r"layers_set_final\.0\.(\d+)\.(conv[12])\.weight", r"stage1.\1.\2.weight"),
    (r"layers_set_final\.1\.(\d+)\.(conv[12])\.weight", r"stage2.\1.\2.weight"),
    (r"layers_set_final\.1\.(\d+)\.skip\.(weight|bias)", r"stage2.\1.shortcut.\2"),
    (r"layers_set_final_up\.0\.1\.(\w+)", r"up1.norm.\1"),
    (r"layers_set_final_up\.0\.3\.(\w+)", r"up1.project.\1"),
    (r"layers_set_final_up\.1\.1\.(\w+)", r"up2.norm.\1"),
    (r"layers_set_final_up\.1\.3\.(\w+)", r"up2.project.\1"),
    (r"a1\.0\.(weight|bias)", r"stage2_skip.\1"),
    (r"a2\.0\.(weight|bias)", _DROPPED),
    (r"main\.([024])\.(weight|bias)", r"tail.\1.\2"),
]

_DEGRADER_RULES: list[tuple[str, object]] = [
    (r"noise_fc\.(weight|bias)", r"noise_fc.\1"),
    (r"in_layer\.weight", "head.weight"),
    (r"down_layers\.(\d+)\.conv1\.weight", r"down_blocks.\1.conv1.weight"),
    (r"down_layers\.(\d+)\.conv2(?:\.1)?\.weight", r"down_blocks.\1.conv2.weight"),
    (r"down_layers\.(\d+)\.skip\.1\.(weight|bias)", r"down_blocks.\1.shortcut.\2"),
    (r"up_layers\.1\.(conv[12])\.weight", r"up_blocks1.0.\1.weight"),
    (r"up_layers\.2\.(conv[12])\.weight", r"up_blocks1.1.\1.weight"),
    (r"up_layers\.4\.(conv[12])\.weight", r"up_blocks2.0.\1.weight"),
    (r"up_layers\.5\.(conv[12])\.weight", r"up_blocks2.1.\1.weight"),
    (r"out_layer\.([02])\.weight", r"tail.\1.weight"),
]

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


def build_network(kind: str) -> nn.Module:
    """A freshly initialised network of the released size (width 1.0)."""
    if kind == "restorer":
        return Restorer()
    if kind == "degrader":
        return Degrader()
    if kind in ("discriminator_16", "discriminator_64"):
        return Discriminator(int(kind.rsplit("_", 1)[1]))
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
    expected = build_network(kind).state_dict()
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
    network = build_network(kind)
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
