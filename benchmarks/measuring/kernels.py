"""What the machine's kernels can do and what a step asks of them: the convolution
ceiling, and the FLOPs of a training step and of a restored face."""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from scgan_lightning.nets import Restorer

from .batches import LR_SIZE, SEED, make_batches
from .released_step import ReleasedStep
from .trainer_runs import fit_module
from .variants import VARIANTS, variant_module


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_ceiling(channels: int, size: int, batch: int, repeats: int) -> dict[str, float]:
    """GFLOP/s of one large 3x3 convolution forward, in the three layouts/dtypes of interest."""
    torch.manual_seed(SEED)
    flops = 2 * channels * channels * 9 * size * size * batch
    x = torch.randn(batch, channels, size, size)
    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    conv_cl = nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(
        memory_format=torch.channels_last
    )
    x_bf16, conv_bf16 = x_cl.bfloat16(), copy.deepcopy(conv_cl).bfloat16()
    with torch.inference_mode():
        return {
            "fp32_nchw": flops / _median_time(lambda: conv(x), repeats) / 1e9,
            "fp32_cl": flops / _median_time(lambda: conv_cl(x_cl), repeats) / 1e9,
            "bf16_cl": flops / _median_time(lambda: conv_bf16(x_bf16), repeats) / 1e9,
        }


def _count_flops(fn: Callable[[], Any]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def _extrapolate(flops_at: Callable[[int], int], batch: int) -> float:
    one, two = flops_at(1), flops_at(2)
    return one + (batch - 1) * (two - one)


def count_flops(width: float, batch: int, data: Path, module: bool = True) -> dict[str, float]:
    """FLOPs of one baseline step, one module step (fp32; NaN unless ``module``), one restorer
    forward per face."""

    def baseline_at(b: int) -> int:
        torch.manual_seed(SEED)
        step = ReleasedStep(width)
        x = make_batches(1, b, data)[0]
        return _count_flops(lambda: step.step(x["hr"], x["lr"], x["z"]))

    def module_at(b: int) -> int:
        module = variant_module(width, VARIANTS["fp32"])
        x = make_batches(1, b, data)
        return _count_flops(lambda: fit_module(module, x, "32-true"))

    def restorer_at(b: int) -> int:
        torch.manual_seed(SEED)
        model = Restorer(width).eval()
        with torch.inference_mode():
            return _count_flops(lambda: model(torch.zeros(b, 3, LR_SIZE, LR_SIZE)))

    return {
        "baseline_step": _extrapolate(baseline_at, batch),
        "module_step": _extrapolate(module_at, batch) if module else math.nan,
        "restorer_per_face": float(restorer_at(1)),
    }
