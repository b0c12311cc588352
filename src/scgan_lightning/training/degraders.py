"""Which network G_DHL and G_DSL are: the released degrader, or the explicit model over it."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..nets import Degrader, ExplicitDegrader

KINDS = ("released", "explicit")


def make_degrader(
    options: dict[str, Any] | None, width: float, noise_dim: int, hr_size: int, scale: int
) -> nn.Module:
    """``model.degrader``: null or ``{kind: released}`` is the released network; ``{kind:
    explicit, residual, blur_sigma, noise_sigma, jpeg_quality, lr}`` the explicit one."""
    options = dict(options or {})
    kind = options.pop("kind", "released")
    options.pop("lr", None)  # the optimiser's business
    if kind not in KINDS:
        raise ValueError(f"model.degrader.kind must be one of {KINDS}, got {kind!r}")
    if kind == "released":
        if options:
            raise ValueError(f"model.degrader: {sorted(options)} apply to kind=explicit only")
        return Degrader(width, noise_dim, hr_size)
    return ExplicitDegrader(width, noise_dim, hr_size, scale, **options)


def explicit_parameters(*degraders: nn.Module) -> list[nn.Parameter]:
    """The explicit degradation laws of these degraders (empty for released ones)."""
    return [
        p for d in degraders if isinstance(d, ExplicitDegrader) for p in d.explicit.parameters()
    ]
