"""``trainer.precision=auto``, ``model.channels_last=auto``, ``model.adam_impl=auto``: the
training step's precision, memory layout and Adam chosen by timing real steps, per phase.

Why by timing: no fixed preset is fast everywhere. On one 2-core Xeon bf16 channels-last ran
the full step 2.5x faster than float32 NCHW; on this project's AMD EPYC bf16 is about 8x slower;
the demo's fixed preset lost to plain float32 in its degrader-only stage. Why per phase: a
degrader-only step is another workload than the semi-cycled one, and a run switches between them.

At the first step of each phase the module builds fresh copies of itself, one per candidate,
and times a few steps of the phase on that step's batch (``probe.time_candidates``); the
training state and the random stream are left untouched. The fastest candidate is kept only
if it is at least ``MARGIN`` faster than the reference, float32 NCHW with the default Adam
(the plain loop). Choices are cached beside ``predict``'s (``settings_cache``), per chip, torch,
threads, model size, batch and phase, and each is logged in one line.

Precision "auto" is the module's own autocast under a 32-true Trainer (what bf16-mixed does for
this manually optimised step). On GPUs the candidates are bf16 and float32; fp16 needs the
Trainer's gradient scaler, so it is left to an explicit ``trainer.precision=16-mixed``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..settings_cache import cache_path, machine_prefix, read_cache, write_entry
from .probe import Trial, time_candidates

log = logging.getLogger(__name__)

AUTO = "auto"
MARGIN = 0.95  # the chosen candidate takes at most 95% of the reference's step time
ADAM_IMPLS = ("default", "foreach", "fused")
# What the Trainer runs when the module chooses its precision itself.
TRAINER_PRECISION_FOR_AUTO = "32-true"


@dataclass(frozen=True)
class TrainSettings:
    """How the step runs. ``precision`` "32"/"bf16" is the module's own (under "auto");
    "trainer" leaves it to the Trainer's precision plugin."""

    precision: str = "trainer"
    channels_last: bool = False
    adam_impl: str = "default"

    def label(self) -> str:
        precision = {"32": "float32", "bf16": "bf16", "trainer": "trainer precision"}
        layout = "channels-last" if self.channels_last else "NCHW"
        return f"{precision[self.precision]} {layout} {self.adam_impl} Adam"


@dataclass(frozen=True)
class Requested:
    """The configured values, each maybe "auto"."""

    precision: str = "trainer"  # "auto" or "trainer"
    channels_last: bool | str = False
    adam_impl: str = "default"

    def __post_init__(self) -> None:
        if self.channels_last not in (True, False, AUTO):
            raise ValueError(
                f"model.channels_last must be true, false or auto, got {self.channels_last!r}"
            )
        if self.adam_impl not in (*ADAM_IMPLS, AUTO):
            raise ValueError(
                f"model.adam_impl must be default|foreach|fused|auto, got {self.adam_impl}"
            )

    @property
    def automatic(self) -> bool:
        return AUTO in (self.precision, self.channels_last, self.adam_impl)


def candidates(requested: Requested) -> list[TrainSettings]:
    """What the configured values allow, the reference first.

    Not the full product: the layouts pair with an Adam (NCHW with the default, channels-last
    with fused, when both are "auto"), and bf16 runs only in the last (fastest-kernel) layout,
    as the CPU presets measured before this did.
    """
    layout = requested.channels_last
    adam = requested.adam_impl
    if layout == AUTO:
        pairs = [
            (False, "default" if adam == AUTO else adam),
            (True, "fused" if adam == AUTO else adam),
        ]
    elif adam == AUTO:
        pairs = [(bool(layout), "default"), (bool(layout), "fused")]
    else:
        pairs = [(bool(layout), adam)]
    if requested.precision != AUTO:
        return [TrainSettings("trainer", cl, a) for cl, a in pairs]
    return [TrainSettings("32", cl, a) for cl, a in pairs] + [TrainSettings("bf16", *pairs[-1])]


def decide(trials: list[Trial[TrainSettings]]) -> TrainSettings:
    """The fastest, if it beats the reference (the first) by ``MARGIN``; else the reference."""
    reference = trials[0]
    best = min(trials, key=lambda t: t.seconds)
    return best.settings if best.seconds <= MARGIN * reference.seconds else reference.settings


def cache_key(
    device: torch.device, module: nn.Module, batch_size: int, phase: str, options: list
) -> str:
    """Chip, torch, threads, the model's size (every network's width), batch and phase."""
    params = sum(p.numel() for p in module.parameters())
    names = " / ".join(s.label() for s in options)
    return (
        f"{machine_prefix(device)} | train {type(module).__name__} {params} params "
        f"| batch {batch_size} | phase {phase} | {names}"
    )


def choose(
    requested: Requested,
    device: torch.device,
    module: nn.Module,
    batch_size: int,
    phase: str,
    build: Callable[[TrainSettings], tuple[nn.Module, Callable[[], None]]],
) -> TrainSettings:
    """The settings of ``phase``: as configured, from the cache, or by timing (then cached)."""
    options = candidates(requested)
    if len(options) == 1:
        return options[0]
    key = cache_key(device, module, batch_size, phase, options)
    path = cache_path()
    cached = read_cache(path).get(key)
    if isinstance(cached, dict) and isinstance(cached.get("settings"), dict):
        with contextlib.suppress(TypeError):
            settings = TrainSettings(**cached["settings"])
            if settings in options:
                log.info("speed, %s phase: %s (cached in %s)", phase, settings.label(), path)
                return settings
    started = time.perf_counter()
    trials = time_candidates(options, build, device)
    choice = decide(trials)
    spent = time.perf_counter() - started
    write_entry(
        path,
        key,
        {
            "settings": asdict(choice),
            "seconds": {t.settings.label(): t.seconds for t in trials if not t.gave_up},
            "gave_up": [t.settings.label() for t in trials if t.gave_up],
            "probe_s": round(spent, 2),
        },
    )
    log.info("speed, %s phase: %s (%s)", phase, choice.label(), _summary(trials, spent))
    return choice


def _summary(trials: list[Trial[TrainSettings]], spent: float) -> str:
    reference = trials[0].seconds
    parts = []
    for t in trials:
        if t.gave_up:
            parts.append(f"{t.settings.label()} clearly slower, given up after {t.spent:.1f} s")
        else:
            parts.append(
                f"{t.settings.label()} {t.seconds:.3f} s/step ({reference / t.seconds:.2f}x)"
            )
    return f"timed in {spent:.1f} s: " + "; ".join(parts)


# ------------------------------------------------------------------ applying the settings
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


def autocast(settings: TrainSettings, device: torch.device) -> contextlib.AbstractContextManager:
    """The module's own autocast for precision "bf16"; nothing otherwise."""
    if settings.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def untouched_rng(device: torch.device) -> Iterator[None]:
    """Probe steps draw noise; the run's random stream must not depend on whether it probed."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
