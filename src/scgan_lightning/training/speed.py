"""How a training module runs under ``autotune.Settings``: its memory layout, its Adam
implementation and its own autocast, each switchable between steps with the optimiser state
carried over (``speed_tuning`` switches them while it times the candidates).

Precision "auto" is the module's own autocast under a 32-true Trainer (what bf16-mixed does for
this manually optimised step). On GPUs the candidates are bf16 and float32; fp16 needs the
Trainer's gradient scaler, so it is left to an explicit ``trainer.precision=16-mixed``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..autotune import Settings

# What the Trainer runs when the module chooses its precision itself.
TRAINER_PRECISION_FOR_AUTO = "32-true"


def adam_flags(impl: str) -> dict[str, bool | None]:
    """``torch.optim.Adam``'s keywords for an implementation name (None: torch's default)."""
    return {
        "default": {"foreach": None, "fused": None},
        "foreach": {"foreach": True, "fused": None},
        "fused": {"foreach": None, "fused": True},
    }[impl]


def apply_layout(
    module: nn.Module, optimizers: list[torch.optim.Optimizer], channels_last: bool
) -> None:
    """Convert the weights (in place: the optimisers keep their parameters) and the Adam
    moments, so that no kernel mixes layouts."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    module.to(memory_format=layout)
    for optimizer in optimizers:
        for param, state in optimizer.state.items():
            for name, value in state.items():
                if torch.is_tensor(value) and value.dim() == 4 and value.shape == param.shape:
                    state[name] = value.contiguous(memory_format=layout)


def apply_adam(optimizers: list[torch.optim.Optimizer], impl: str) -> None:
    """Switch the Adam implementation of existing optimisers; their state carries over (the
    fused kernel keeps its step counts on the parameters' device, the others on the host)."""
    flags = adam_flags(impl)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group.update(flags)
            on_device = bool(group.get("fused") or group.get("capturable"))
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                step = state.get("step")
                if torch.is_tensor(step):
                    state["step"] = step.to(param.device if on_device else "cpu", torch.float32)


def autocast(settings: Settings, device: torch.device) -> contextlib.AbstractContextManager:
    """The module's own autocast for precision "bf16"; nothing otherwise."""
    if settings.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
