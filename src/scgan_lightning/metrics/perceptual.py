"""LPIPS with its ImageNet backbone read from a local torchvision checkpoint (no download)."""

from __future__ import annotations

import os
import warnings

from torch import nn

from ..errors import UserError
from ..serialization import load_weights_file
from .weights import resolve_weights

# torchvision's ImageNet checkpoints LPIPS builds on, as named in torch's hub cache.
LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


def build_lpips(weights_path: str | os.PathLike | None, net: str = "alex") -> nn.Module:
    """LPIPS (v0.1) with the ImageNet backbone read from a torchvision checkpoint file.

    The calibrated linear layers ship inside the ``lpips`` package; only the backbone would be
    downloaded by ``lpips`` itself, so it is built random and then loaded from ``weights_path``
    (a torchvision ``state_dict``, e.g. ``alexnet-owt-7be5be79.pth``) or the hub cache.
    The module takes two [-1, 1] NCHW batches and returns distances of shape (N, 1, 1, 1).
    """
    import lpips

    if net not in LPIPS_BACKBONE_FILES:
        raise UserError(f"lpips net {net!r} unknown; choose one of {sorted(LPIPS_BACKBONE_FILES)}")
    filename = LPIPS_BACKBONE_FILES[net]
    path = resolve_weights(weights_path, filename, f"LPIPS {net} backbone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    backbone = load_weights_file(path)
    if not isinstance(backbone, dict):
        raise UserError(f"{path}: expected a torchvision {net} state_dict")
    # LPIPS splits torchvision's ``features`` into slices keeping the layer indices:
    # ``slice2.3.weight`` is torchvision's ``features.3.weight``.
    target = model.net.state_dict()
    state = {}
    for key, expected in target.items():
        source_key = "features." + key.split(".", 1)[1]
        value = backbone.get(source_key)
        if value is None:
            raise UserError(f"{path}: key {source_key!r} missing, not a torchvision {net} file")
        if value.shape != expected.shape:
            raise UserError(
                f"{path}: {source_key!r} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected.shape)} for {net}"
            )
        state[key] = value.float()
    model.net.load_state_dict(state)
    return model.eval().requires_grad_(False)
