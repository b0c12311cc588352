"""The CPU benchmark's training variants: the released-style loop and the module under a
Trainer in each precision, layout and Adam, each run in its own fresh process."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import torch

from scgan_lightning.training.module import SCGANModule

from .batches import SEED, make_batches
from .machine import cpu_seconds, peak_memory_mib, status_mib
from .released_step import ReleasedStep
from .trainer_runs import build_module, fit_module


@dataclass(frozen=True)
class Variant:
    """One training configuration: the released-style loop, or the module under a Trainer."""

    name: str
    description: str
    baseline: bool = False
    precision: str = "32-true"
    channels_last: bool = False
    adam_impl: str = "default"
    compile: bool = False

    @property
    def bf16(self) -> bool:
        return self.precision.startswith("bf16")


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "baseline",
            "plain eager fp32 NCHW loop, 7 Adams, per-network backward/step",
            baseline=True,
        ),
        Variant("fp32", "SCGANModule, Trainer precision 32-true"),
        Variant("fp32_cl", "fp32, channels_last", channels_last=True),
        Variant("fp32_foreach", "fp32, Adam foreach", adam_impl="foreach"),
        Variant("fp32_fused", "fp32, Adam fused", adam_impl="fused"),
        Variant(
            "fp32_cl_fused",
            "fp32, channels_last, Adam fused",
            channels_last=True,
            adam_impl="fused",
        ),
        Variant("bf16", "SCGANModule, Trainer precision bf16-mixed", precision="bf16-mixed"),
        Variant("bf16_cl", "bf16-mixed, channels_last", precision="bf16-mixed", channels_last=True),
        Variant(
            "bf16_cl_foreach",
            "bf16-mixed, channels_last, Adam foreach",
            precision="bf16-mixed",
            channels_last=True,
            adam_impl="foreach",
        ),
        Variant(
            "bf16_cl_fused",
            "bf16-mixed, channels_last, Adam fused",
            precision="bf16-mixed",
            channels_last=True,
            adam_impl="fused",
        ),
        Variant("fp32_compile", "fp32, torch.compile on the 3 generators", compile=True),
        Variant(
            "bf16_cl_fused_compile",
            "bf16_cl_fused + torch.compile on the 3 generators",
            precision="bf16-mixed",
            channels_last=True,
            adam_impl="fused",
            compile=True,
        ),
    )
}
DEFAULT_VARIANTS = ("baseline", "fp32", "fp32_cl", "fp32_fused", "bf16", "bf16_cl", "bf16_cl_fused")
SMOKE_VARIANTS = ("baseline", "bf16_cl_fused")


def variant_module(width: float, variant: Variant) -> SCGANModule:
    return build_module(
        width,
        channels_last=variant.channels_last,
        adam_impl=variant.adam_impl,
        compile_mode="default" if variant.compile else None,
    )


def run_variant(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up plus timed steps of one variant, in this (fresh) process."""
    variant = VARIANTS[name]
    batches = make_batches(min(args.warmup + args.steps, 4), args.batch, args.data)
    schedule = [batches[i % len(batches)] for i in range(args.warmup + args.steps)]
    if variant.baseline:
        torch.manual_seed(SEED)
        step = ReleasedStep(args.width)
        rss_before = status_mib("VmRSS")
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()
        times = []
        for batch in schedule:
            start = time.perf_counter()
            step.step(batch["hr"], batch["lr"], batch["z"])
            times.append(time.perf_counter() - start)
    else:
        module = variant_module(args.width, variant)
        rss_before = status_mib("VmRSS")
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()
        times = fit_module(module, schedule, variant.precision).times
    return {
        "variant": name,
        "step_s": times[args.warmup :],
        "warmup_s": times[: args.warmup],
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_memory_mib("cpu"),
        # Cores this process actually got: about the thread count on an idle machine, less
        # when other work shares the CPU (then the times are inflated).
        "cpu_share": (cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before),
    }
