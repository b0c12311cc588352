"""What can be tuned (precision, memory layout, Adam), which candidates a request allows, and
the one rule that picks among their timings.

Why candidates and not the full product: every candidate costs real work run under it while
it is timed, so the layouts pair with an Adam (NCHW with the default one, channels-last with
the fused one, when both are "auto") and bf16 runs only in the last, fastest-kernel layout.
On the machines measured so far (docs/PERFORMANCE.md, docs/INFERENCE.md) neither bf16 NCHW nor
the crossed pairs were ever the fastest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

AUTO = "auto"
# A candidate replaces the reference (the first: the plain float32 NCHW setting) only if it
# takes at most this share of the reference's time: single steps on a shared machine vary by
# 5-10%, and bf16 changes the outputs slightly, so a switch must clearly pay.
MARGIN = 0.9
PRECISIONS = ("32", "bf16", "trainer")
ADAM_IMPLS = ("default", "foreach", "fused")


@dataclass(frozen=True)
class Settings:
    """How work runs. ``precision`` "32" or "bf16" (autocast, the caller's own); "trainer"
    leaves it to Lightning's precision plugin. ``adam_impl`` is None where nothing trains."""

    precision: str = "32"
    channels_last: bool = False
    adam_impl: str | None = None

    def label(self) -> str:
        names = {"32": "float32", "bf16": "bf16", "trainer": "trainer precision"}
        layout = "channels-last" if self.channels_last else "NCHW"
        adam = f" {self.adam_impl} Adam" if self.adam_impl else ""
        return f"{names[self.precision]} {layout}{adam}"


@dataclass(frozen=True)
class Requested:
    """The configured values, each maybe "auto"; ``adam_impl`` None where nothing trains."""

    precision: str = "32"
    channels_last: bool | str = False
    adam_impl: str | None = None

    def __post_init__(self) -> None:
        # Hydra and YAML give `precision=32` as an int; the settings compare strings.
        object.__setattr__(self, "precision", str(self.precision))
        if self.precision not in (*PRECISIONS, AUTO):
            raise ValueError(f"precision must be 32, bf16 or auto, got {self.precision!r}")
        if self.channels_last not in (True, False, AUTO):
            raise ValueError(
                f"channels_last must be true, false or auto, got {self.channels_last!r}"
            )
        if self.adam_impl not in (*ADAM_IMPLS, AUTO, None):
            raise ValueError(
                f"model.adam_impl must be default|foreach|fused|auto, got {self.adam_impl!r}"
            )

    @property
    def automatic(self) -> bool:
        return AUTO in (self.precision, self.channels_last, self.adam_impl)

    def candidates(self, device: torch.device) -> list[Settings]:
        """What the request allows on ``device``, the reference first (see the module's
        docstring); bf16 only where the device runs it (not on pre-Ampere GPUs)."""
        layout, adam = self.channels_last, self.adam_impl
        if layout == AUTO:
            pairs = [
                (False, "default" if adam == AUTO else adam),
                (True, "fused" if adam == AUTO else adam),
            ]
        elif adam == AUTO:
            pairs = [(bool(layout), "default"), (bool(layout), "fused")]
        else:
            pairs = [(bool(layout), adam)]
        if self.precision != AUTO:
            return [Settings(self.precision, cl, a) for cl, a in pairs]
        options = [Settings("32", cl, a) for cl, a in pairs]
        if device.type != "cuda" or torch.cuda.is_bf16_supported():
            options.append(Settings("bf16", *pairs[-1]))
        return options


def decide(seconds: Mapping[Settings, float], reference: Settings) -> Settings:
    """The fastest, if it takes at most ``MARGIN`` of the reference's time; else the
    reference. ``seconds`` holds each candidate's fastest timed unit (inf: given up)."""
    best = min(seconds, key=seconds.__getitem__)
    return best if seconds[best] <= MARGIN * seconds[reference] else reference
