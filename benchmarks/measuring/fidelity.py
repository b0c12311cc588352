"""Training in bf16 against float32: the losses of the same steps, side by side."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch

from .batches import SEED, make_batches
from .trainer_runs import fit_module
from .variants import VARIANTS, variant_module


def training_fidelity(steps: int, batch: int, data: Path) -> dict[str, Any]:
    """bf16-mixed vs 32-true losses over ``steps`` width-0.125 steps on the same batches."""
    batches = make_batches(steps, batch, data, seed=SEED + 1)
    losses = {}
    # One thread: at width 0.125 a step is thousands of tiny ops, and on a shared CPU every
    # OpenMP barrier waits for a time slice (measured: 70 s per step instead of 1 s). The
    # quantity measured here is numerical, not a speed, so the thread count does not matter.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for precision in ("32-true", "bf16-mixed"):
            module = variant_module(0.125, VARIANTS["fp32"])
            losses[precision] = fit_module(module, batches, precision).losses
    finally:
        torch.set_num_threads(threads)
    reference, low = losses["32-true"], losses["bf16-mixed"]
    names = [
        k for k in reference[0] if k in ("D_L1", "D_H1", "D_L2", "D_H2", "G_DHL", "G_RLS", "G_DSL")
    ]
    result = {}
    for key in names:
        rel = [
            abs(b[key] - a[key]) / max(abs(a[key]), 1e-8)
            for a, b in zip(reference, low, strict=True)
        ]
        # A hinge loss can pass through zero, where |bf16 - fp32| / |fp32| explodes; the
        # deviation relative to the loss's mean magnitude over the run stays meaningful.
        diffs = [abs(b[key] - a[key]) for a, b in zip(reference, low, strict=True)]
        scale = statistics.fmean(abs(a[key]) for a in reference)
        result[key] = {
            "first_step": rel[0],
            "max": max(rel),
            "median": statistics.median(rel),
            "max_abs": max(diffs),
            "max_vs_mean": max(diffs) / max(scale, 1e-8),
        }
    return {
        "steps": steps,
        "batch": batch,
        "relative_deviation": result,
        "losses": {k: [{n: r[n] for n in names} for r in v] for k, v in losses.items()},
    }
