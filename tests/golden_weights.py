"""Rebuild the golden networks' weights by the rule in ``fixtures/golden/SOURCE.md``."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import torch

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def released_layout(kind: str) -> dict[str, list[int]]:
    """Key -> shape of one released network."""
    return json.loads((GOLDEN / "official_layout.json").read_text())[kind]


def _tensor_for(salt: str, key: str, shape: list[int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(f"{salt}/{key}".encode()))
    if key.endswith("num_batches_tracked"):
        return torch.tensor(7, dtype=torch.long)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=g) + 0.5
    if key.endswith("running_mean"):
        return torch.randn(shape, generator=g) * 0.1
    if key.endswith("_u") or key.endswith("_v"):
        t = torch.randn(shape, generator=g)
        return t / t.norm()
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    scale = fan_in**-0.5 if len(shape) > 1 else 0.1
    t = torch.randn(shape, generator=g) * scale
    if key.endswith(".weight") and len(shape) == 1:
        t = 1 + t
    return t


def released_state_dict(kind: str, salt: str) -> dict[str, torch.Tensor]:
    """A state dict in the released key layout, made by the golden weight rule."""
    return {key: _tensor_for(salt, key, shape) for key, shape in released_layout(kind).items()}


def golden(name: str) -> dict:
    """One golden ``.pt`` file's content."""
    return torch.load(GOLDEN / name, weights_only=True)
