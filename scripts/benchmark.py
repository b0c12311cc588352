#!/usr/bin/env python
"""Training and inference speed of SCGAN on this machine, against a plain released-style loop.

Why this script exists: SCGAN is compute-bound (about 310 GFLOP per image for one training
step at width 1.0), so the only honest question is how close each configuration gets to what
the CPU's convolution kernels can do, and whether it beats the plain loop users would write.
Everything runs in one invocation so that every number shares the machine's state:

* a convolution ceiling (3x3, 256->256, 32x32 maps) in fp32 NCHW, fp32 channels-last and bf16
  channels-last, measured at the start and the end (the best of both is the ceiling);
* the FLOPs of one baseline step, counted with ``FlopCounterMode`` (batch 1 and 2, extrapolated
  linearly: every op is per-sample except the batch-independent spectral-norm iteration);
* training variants, each in a fresh subprocess (its own peak RSS), their order reversed
  on every other repetition: the baseline (seven Adams, per-network backward and step, as
  released) and ``SCGANModule`` through a real ``pl.Trainer`` timed by a callback;
* predict end to end (read, restore, write PNG) with the project pipeline and a batch-1 loop;
* fidelity: bf16 vs float32 restorer outputs (PSNR on uint8) and training losses.

``--smoke`` is a tiny configuration for CI; ``--markdown PATH`` writes the tables into PATH
between ``<!-- benchmark:begin -->`` and ``<!-- benchmark:end -->`` (hand-written text around
the markers is kept).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.data.image_io import (
    center_square,
    list_images,
    read_rgb,
    resize,
    save_png,
    to_tensor,
    to_uint8,
)
from scgan_lightning.module import DISCRIMINATORS, GENERATORS, SCGANModule
from scgan_lightning.nets import NOISE_DIM, Degrader, Discriminator, Restorer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SEED = 2020
HR_SIZE, SCALE = 64, 4
LR_SIZE = HR_SIZE // SCALE
MARK_BEGIN, MARK_END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"
ALPHA, BETA, THETA, GAMMA = 1.0, 0.05, 1.0, 0.05

# Targets from the speed issue, checked on the measured figures.
TARGET_SPEEDUP = 1.5
TARGET_CEILING_FRACTION = 0.70
TARGET_PREDICT_SPEEDUP = 3.0
TARGET_MEMORY_RATIO = 1.10
TARGET_PSNR_DB = 40.0


# --------------------------------------------------------------------------------- variants
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


# ------------------------------------------------------------------------------------ data
def _hr_face(path: Path) -> torch.Tensor:
    return to_tensor(resize(center_square(read_rgb(path)), HR_SIZE))


def make_batches(count: int, batch: int, data: Path, seed: int = SEED) -> list[dict]:
    """``count`` fixed batches of real HR and real LR faces (random pixels if data is absent).

    Fixed z per batch, so every variant (and the bf16/fp32 fidelity pair) sees the same input.
    """
    generator = torch.Generator().manual_seed(seed)
    hr_files = list_images(data / "faces_hr" / "train") if (data / "faces_hr").is_dir() else []
    lr_files = list_images(data / "faces_lr_real") if (data / "faces_lr_real").is_dir() else []
    needed = count * batch
    batches = []
    for index in range(count):
        part = slice(index * batch, (index + 1) * batch)
        if len(hr_files) >= needed and len(lr_files) >= needed:
            hr = torch.stack([_hr_face(p) for p in hr_files[part]])
            lr = torch.stack([to_tensor(resize(read_rgb(p), LR_SIZE)) for p in lr_files[part]])
        else:
            hr = torch.rand(batch, 3, HR_SIZE, HR_SIZE, generator=generator) * 2 - 1
            lr = torch.rand(batch, 3, LR_SIZE, LR_SIZE, generator=generator) * 2 - 1
        z = torch.randn(batch, 1, NOISE_DIM, generator=generator)
        batches.append({"hr": hr, "lr": lr, "z": z})
    return batches


class FixedBatches(Dataset):
    """Already-collated batches for a ``DataLoader(batch_size=None)``: no loading in the loop."""

    def __init__(self, batches: Sequence[dict]) -> None:
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        return self.batches[index]


# ------------------------------------------------------------------------ released baseline
def _hinge(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _g_term(output: torch.Tensor, target: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ALPHA * F.l1_loss(output, target) - BETA * fake.mean()


class ReleasedStep:
    """The released training step written plainly: what the module is measured against.

    Seven separate Adams; the four discriminator losses computed, each backpropagated, then
    each discriminator stepped; then each generator loss backpropagated (its gradients also
    landing in the discriminators, discarded at the next ``zero_grad``) and stepped in turn.
    """

    def __init__(self, width: float) -> None:
        self.g_dhl = Degrader(width, NOISE_DIM, HR_SIZE)
        self.g_rls = Restorer(width)
        self.g_dsl = Degrader(width, NOISE_DIM, HR_SIZE)
        self.d_l1 = Discriminator(LR_SIZE, width)
        self.d_l2 = Discriminator(LR_SIZE, width)
        self.d_h1 = Discriminator(HR_SIZE, width)
        self.d_h2 = Discriminator(HR_SIZE, width)
        self.nets: dict[str, nn.Module] = {n: getattr(self, n) for n in GENERATORS + DISCRIMINATORS}
        self.opts = {
            name: torch.optim.Adam(net.train().parameters(), lr=1e-4, betas=(0.9, 0.999))
            for name, net in self.nets.items()
        }

    def step(self, hr: torch.Tensor, lr: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
        """One released training step; returns the seven losses."""
        hr_down = F.avg_pool2d(hr, SCALE)
        lr_gen = self.g_dhl(hr, z)
        hr_gen = self.g_rls(lr_gen.detach())
        hr_gen_r = self.g_rls(lr)
        lr_real_2 = self.g_dsl(hr_gen_r.detach(), z)
        ups = F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=True)

        for name in DISCRIMINATORS:
            self.opts[name].zero_grad()
        d_losses = {
            "D_L1": _hinge(self.d_l1(lr), self.d_l1(lr_gen.detach())),
            "D_H1": _hinge(self.d_h1(hr), self.d_h1(hr_gen.detach())),
            "D_L2": _hinge(self.d_l2(lr), self.d_l2(lr_real_2.detach())),
            "D_H2": _hinge(self.d_h2(hr), self.d_h2(hr_gen_r.detach())),
        }
        for loss in d_losses.values():
            loss.backward()
        for name in DISCRIMINATORS:
            self.opts[name].step()

        self.opts["g_dhl"].zero_grad()
        g_dhl = _g_term(lr_gen, hr_down, self.d_l1(lr_gen))
        g_dhl.backward()
        self.opts["g_dhl"].step()

        self.opts["g_rls"].zero_grad()
        g_rls = THETA * _g_term(hr_gen, hr, self.d_h1(hr_gen)) + GAMMA * _g_term(
            ups, hr_gen_r, self.d_h2(hr_gen_r)
        )
        g_rls.backward()
        self.opts["g_rls"].step()

        self.opts["g_dsl"].zero_grad()
        g_dsl = _g_term(lr_real_2, lr, self.d_l2(lr_real_2))
        g_dsl.backward()
        self.opts["g_dsl"].step()

        losses = {**d_losses, "G_DHL": g_dhl, "G_RLS": g_rls, "G_DSL": g_dsl}
        return {k: float(v.detach()) for k, v in losses.items()}


# --------------------------------------------------------------------------- trainer path
class StepTimer(pl.Callback):
    """Wall time of each training batch (the whole ``training_step``: forward, backward, Adam)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.losses: list[dict[str, float]] = []
        self._start = 0.0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.times.append(time.perf_counter() - self._start)
        if isinstance(outputs, dict):
            self.losses.append({k: float(v) for k, v in outputs.items()})


def build_module(width: float, variant: Variant) -> SCGANModule:
    """The module as a user configures it; ``compile`` compiles each network's forward."""
    torch.manual_seed(SEED)
    module = SCGANModule(
        width=width,
        hr_size=HR_SIZE,
        scale=SCALE,
        channels_last=variant.channels_last,
        adam_impl=variant.adam_impl,
    )
    if variant.compile:
        # Generators only: compiled discriminators fail in backward ("modified by an inplace
        # operation"), the spectral norm's in-place u/v updates clash with the traced graph.
        for name in GENERATORS:
            getattr(module, name).compile()
    return module


def fit_module(module: SCGANModule, batches: Sequence[dict], precision: str) -> StepTimer:
    """One epoch over ``batches`` with a real Trainer on the CPU; returns the timer callback."""
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        precision=precision,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=DataLoader(FixedBatches(batches), batch_size=None))
    return timer


# ------------------------------------------------------------------ one variant (subprocess)
def _status_mib(key: str) -> float:
    """``VmRSS``/``VmHWM`` of this process from ``/proc/self/status``, in MiB.

    Why not ``ru_maxrss``: Linux carries the parent's high-water mark across fork and exec
    into ``ru_maxrss``, so every child would report at least the orchestrator's peak.
    ``VmHWM`` belongs to the child's own address space.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    return math.nan


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_variant(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up plus timed steps of one variant, in this (fresh) process."""
    variant = VARIANTS[name]
    batches = make_batches(min(args.warmup + args.steps, 4), args.batch, args.data)
    schedule = [batches[i % len(batches)] for i in range(args.warmup + args.steps)]
    if variant.baseline:
        torch.manual_seed(SEED)
        step = ReleasedStep(args.width)
        rss_before = _status_mib("VmRSS")
        cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
        times = []
        for batch in schedule:
            start = time.perf_counter()
            step.step(batch["hr"], batch["lr"], batch["z"])
            times.append(time.perf_counter() - start)
    else:
        module = build_module(args.width, variant)
        rss_before = _status_mib("VmRSS")
        cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
        times = fit_module(module, schedule, variant.precision).times
    return {
        "variant": name,
        "step_s": times[args.warmup :],
        "warmup_s": times[: args.warmup],
        "rss_before_mib": rss_before,
        "peak_rss_mib": _status_mib("VmHWM"),
        # Cores this process actually got: about the thread count on an idle machine, less
        # when other work shares the CPU (then the times are inflated).
        "cpu_share": (_cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before),
    }


def spawn_variant(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one variant in a fresh interpreter so its peak RSS is its own."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_variant",
            name,
            "--_result",
            str(result_path),
            "--width",
            str(args.width),
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--data",
            str(args.data),
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not result_path.is_file():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {proc.returncode}"
            return {"variant": name, "error": reason[:300]}
        return json.loads(result_path.read_text())


# ------------------------------------------------------------------------ ceiling and FLOPs
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
        module = build_module(width, VARIANTS["fp32"])
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


# -------------------------------------------------------------------------------- predict
def prepare_predict(tmp: Path, width: float, faces: int, data: Path) -> tuple[Path, Path]:
    """A random-weight restorer saved with ``save_restorer`` and a folder of ``faces`` inputs."""
    torch.manual_seed(SEED)
    ckpt = tmp / "restorer.pt"
    save_restorer(ckpt, Restorer(width).eval(), {"width": width, "scale": SCALE}, ema=False)
    inputs = tmp / "inputs"
    inputs.mkdir()
    source = data / "faces_lr_real"
    files = list_images(source)[:faces] if source.is_dir() else []
    if len(files) == faces:
        for path in files:
            (inputs / path.name).symlink_to(path.resolve())
    else:  # no real data here: random 16x16 faces keep the pipeline honest, if not the content
        rng = np.random.default_rng(SEED)
        for index in range(faces):
            save_png(
                rng.integers(0, 256, (LR_SIZE, LR_SIZE, 3), dtype=np.uint8), inputs / f"{index}.png"
            )
    return ckpt, inputs


def predict_baseline_loop(ckpt: Path, inputs: Path, output: Path) -> int:
    """Batch 1, float32: load each face, restore it, save it. What a user writes first."""
    model = load_restorer(ckpt).model.eval()
    count = 0
    for path in list_images(inputs):
        lr = to_tensor(read_rgb(path)).unsqueeze(0)
        with torch.no_grad():
            sr = model(lr)
        save_png(to_uint8(sr[0]), output / f"{path.stem}.png")
        count += 1
    return count


def predict_project(
    ckpt: Path, inputs: Path, output: Path, precision: str, batch: int, channels_last: bool
) -> int:
    """The project's folder pipeline (``scgan_lightning.predict.predict``)."""
    from scgan_lightning.predict import PredictOptions, predict

    options = PredictOptions(
        input=str(inputs),
        output=str(output),
        ckpt_path=str(ckpt),
        device="cpu",
        precision=precision,
        channels_last=channels_last,
        batch_size=batch,
        progress=False,
    )
    summary = predict(options, console=Console(file=io.StringIO()))
    if summary.failed:
        raise RuntimeError(f"predict failed on {summary.failed} faces")
    return summary.done


PREDICT_VARIANTS: dict[str, str] = {
    "loop_fp32_b1": "baseline loop: batch 1, fp32, load/forward/save per face",
    "project_fp32": "project predict(), precision=32 channels_last=false",
    "project_bf16": "project predict(), precision=bf16 channels_last=false",
    "project_default": "project predict() defaults: precision=auto channels_last=true",
}
# precision and channels_last of each project variant
_PREDICT_SETTINGS = {
    "project_fp32": ("32", False),
    "project_bf16": ("bf16", False),
    "project_default": ("auto", True),
}


def run_predict(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Time each predict variant end to end (model load included), alternating order."""
    ckpt, inputs = prepare_predict(tmp, args.width, args.faces, args.data)
    names = list(PREDICT_VARIANTS)
    times: dict[str, list[float]] = {n: [] for n in names}
    outputs: dict[str, Path] = {}
    for rep in range(args.repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            output = tmp / f"out_{name}_{rep}"
            start = time.perf_counter()
            if name == "loop_fp32_b1":
                done = predict_baseline_loop(ckpt, inputs, output)
            else:
                precision, channels_last = _PREDICT_SETTINGS[name]
                done = predict_project(
                    ckpt, inputs, output, precision, args.predict_batch, channels_last
                )
            times[name].append(time.perf_counter() - start)
            if done != args.faces:
                raise RuntimeError(f"{name}: wrote {done} of {args.faces} faces")
            outputs[name] = output
    reference = outputs["loop_fp32_b1"]
    fidelity = {n: compare_folders(reference, outputs[n]) for n in names[1:]}
    return {
        "faces": args.faces,
        "seconds": {n: statistics.median(t) for n, t in times.items()},
        "all_seconds": times,
        "fidelity_vs_loop_fp32": fidelity,
        "saturated_fraction": saturated_fraction(reference),
    }


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def compare_folders(reference: Path, other: Path) -> dict[str, float]:
    """PSNR (dB) of ``other``'s PNGs against ``reference``'s: pooled and worst image."""
    errors, worst, identical, count = 0.0, math.inf, 0, 0
    for path in sorted(reference.glob("*.png")):
        a, b = _pixels(path), _pixels(other / path.name)
        mse = float(np.mean((a - b) ** 2))
        errors += mse
        count += 1
        identical += mse == 0.0
        worst = min(worst, _psnr(mse))
    return {
        "psnr_pooled_db": _psnr(errors / max(count, 1)),
        "psnr_worst_db": worst,
        "identical_fraction": identical / max(count, 1),
        "max_abs_diff": _max_abs_diff(reference, other),
    }


def _max_abs_diff(reference: Path, other: Path) -> float:
    return max(
        float(np.max(np.abs(_pixels(p) - _pixels(other / p.name))))
        for p in sorted(reference.glob("*.png"))
    )


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def saturated_fraction(folder: Path) -> float:
    """Share of output pixels at 0 or 255: saturated pixels agree in any precision."""
    total = saturated = 0
    for path in folder.glob("*.png"):
        pixels = _pixels(path)
        total += pixels.size
        saturated += int(np.sum((pixels == 0) | (pixels == 255)))
    return saturated / max(total, 1)


# ---------------------------------------------------------------------- training fidelity
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
            module = build_module(0.125, VARIANTS["fp32"])
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


# ----------------------------------------------------------------------------- reporting
def machine_description() -> dict[str, Any]:
    """CPU model, cores, bf16 support, library versions, threads, load."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "bf16_isa": sorted(f for f in flags if "bf16" in f or f.startswith("amx")),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0],
    }


@dataclass
class Report:
    """Everything measured in one run; rendered as markdown tables."""

    args: dict[str, Any]
    machine: dict[str, Any]
    ceiling_runs: list[dict[str, float]] = field(default_factory=list)
    flops: dict[str, float] = field(default_factory=dict)
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    predict: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    load_avg_end: float = 0.0

    @property
    def ceiling(self) -> dict[str, float]:
        """Best of the ceiling runs per mode: a ceiling is what the kernel can reach."""
        return {k: max(run[k] for run in self.ceiling_runs) for k in self.ceiling_runs[0]}

    def training_rows(self) -> list[dict[str, Any]]:
        base = self.training.get("baseline", {})
        base_ips = base.get("images_per_s")
        base_rss = base.get("peak_rss_mib")
        ceiling = self.ceiling
        fp32_ceiling = max(ceiling["fp32_nchw"], ceiling["fp32_cl"])
        rows = []
        for name, result in self.training.items():
            row = {"variant": name, "description": VARIANTS[name].description}
            if "error" in result:
                row["error"] = result["error"]
                rows.append(row)
                continue
            gflops = self.flops["baseline_step"] / result["median_step_s"] / 1e9
            own = ceiling["bf16_cl"] if VARIANTS[name].bf16 else fp32_ceiling
            row.update(
                images_per_s=result["images_per_s"],
                ratio=result["images_per_s"] / base_ips if base_ips else math.nan,
                gflops=gflops,
                frac_own=gflops / own,
                frac_bf16=gflops / ceiling["bf16_cl"],
                peak_rss=result["peak_rss_mib"],
                rss_ratio=result["peak_rss_mib"] / base_rss if base_rss else math.nan,
                step_increase=result["peak_rss_mib"] - result["rss_before_mib"],
                cpu_share=result["cpu_share"],
                best_images_per_s=result["best_images_per_s"],
                median_step_s=result["median_step_s"],
                steps=len(result["step_s"]),
            )
            rows.append(row)
        return rows

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """(target, measured, met) for each figure of the issue; None: not measured."""
        rows = [r for r in self.training_rows() if "error" not in r]
        by_name = {r["variant"]: r for r in rows}
        result: list[tuple[str, str, bool | None]] = []
        candidates = [r for r in rows if r["variant"] != "baseline"]
        if "baseline" in by_name and candidates:
            best = max(candidates, key=lambda r: r["images_per_s"])
            result.append(
                (
                    f"best training config >= {TARGET_SPEEDUP}x baseline images/s",
                    f"{best['variant']}: {best['ratio']:.2f}x",
                    best["ratio"] >= TARGET_SPEEDUP,
                )
            )
            result.append(
                (
                    f"best training config >= {TARGET_CEILING_FRACTION:.0%} of bf16 conv ceiling",
                    f"{best['variant']}: {best['gflops']:.0f} GFLOP/s = {best['frac_bf16']:.0%} "
                    f"of {self.ceiling['bf16_cl']:.0f}",
                    best["frac_bf16"] >= TARGET_CEILING_FRACTION,
                )
            )
            if "fp32" in by_name:
                fp32 = by_name["fp32"]
                result.append(
                    (
                        "fp32 config no slower than baseline",
                        f"fp32: {fp32['ratio']:.2f}x",
                        fp32["ratio"] >= 1.0,
                    )
                )
            result.append(
                (
                    f"training peak memory <= {TARGET_MEMORY_RATIO:.0%} of baseline",
                    f"{best['variant']}: {best['rss_ratio']:.0%} "
                    f"({best['peak_rss']:.0f} vs {by_name['baseline']['peak_rss']:.0f} MiB)",
                    best["rss_ratio"] <= TARGET_MEMORY_RATIO,
                )
            )
        if self.predict:
            seconds = self.predict["seconds"]
            base = seconds["loop_fp32_b1"]
            if "project_default" in seconds:
                best_name = "project_default"
            else:  # a saved run from before predict's fast defaults
                older = ("project_fp32", "project_bf16")
                shipped = {n: t for n, t in seconds.items() if n in older}
                best_name = min(shipped, key=shipped.get)
            result.append(
                (
                    f"predict >= {TARGET_PREDICT_SPEEDUP:.0f}x baseline loop",
                    f"{best_name}: {base / seconds[best_name]:.2f}x",
                    base / seconds[best_name] >= TARGET_PREDICT_SPEEDUP,
                )
            )
            fid = self.predict["fidelity_vs_loop_fp32"]["project_bf16"]
            result.append(
                (
                    f"bf16 vs fp32 restorer >= {TARGET_PSNR_DB:.0f} dB",
                    f"{fid['psnr_pooled_db']:.1f} dB pooled, "
                    f"worst face {fid['psnr_worst_db']:.1f} dB",
                    fid["psnr_worst_db"] >= TARGET_PSNR_DB,
                )
            )
        return result

    def markdown(self) -> str:
        a, m = self.args, self.machine
        c = self.ceiling
        lines = [
            f"Run: `{a['command']}`, {a.get('started', 'time not recorded')}, "
            f"{self.wall_s / 60:.1f} min in all.",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, bf16 ISA: "
            f"{', '.join(m['bf16_isa']) or 'none'}; torch {m['torch']}, Lightning "
            f"{m['lightning']}, Python {m['python']}, torch threads {m['threads']}; "
            f"1-min load average {m['load_avg_1m']:.2f} at start, {self.load_avg_end:.2f} at end.",
            "",
            f"### Convolution ceiling (3x3 forward, {a['ceiling_shape']}), GFLOP/s",
            "",
            "| layout | "
            + " | ".join(f"run {i + 1}" for i in range(len(self.ceiling_runs)))
            + " | ceiling (best) |",
            "|---|" + "---:|" * (len(self.ceiling_runs) + 1),
        ]
        for key, label in (
            ("fp32_nchw", "fp32 NCHW"),
            ("fp32_cl", "fp32 channels-last"),
            ("bf16_cl", "bf16 channels-last"),
        ):
            runs = " | ".join(f"{run[key]:.1f}" for run in self.ceiling_runs)
            lines.append(f"| {label} | {runs} | {c[key]:.1f} |")
        f = self.flops
        lines += [
            "",
            f"### Training, width {a['width']}, batch {a['batch']} "
            f"({a['warmup']} warm-up + {a['steps']} timed steps per variant, "
            f"{a['repeats']} repetition(s), median step)",
            "",
            f"FLOPs of one step (FlopCounterMode): baseline {f['baseline_step'] / 1e9:.1f} GFLOP "
            f"({f['baseline_step'] / a['batch'] / 1e9:.1f} per image); the module's step "
            + (
                "not counted (--smoke)"
                if math.isnan(f["module_step"])
                else f"{f['module_step'] / 1e9:.1f} GFLOP"
            )
            + " (it skips weight gradients of the "
            "discriminators in the generator backward, which the released loop computes and "
            "throws away). GFLOP/s below = baseline FLOPs / step time (useful work per second). "
            "Peak RSS: `VmHWM` of the variant's own process (not `ru_maxrss`, which Linux "
            "carries over from the parent across fork/exec); step increase: peak minus RSS "
            "after building the model. CPU share: CPU seconds / wall seconds of the variant's "
            f"steps (about {self.machine['threads']} on an idle machine; less means other "
            "work took cores and the step times are inflated).",
            "",
            "| variant | what | images/s | best step img/s | vs baseline | GFLOP/s | "
            "% own ceiling | "
            "% bf16 ceiling | peak RSS MiB | vs baseline | step increase MiB | CPU share |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.training_rows():
            if "error" in r:
                lines.append(
                    f"| {r['variant']} | {r['description']} | failed: "
                    f"{r['error'].replace('|', '/')} | | | | | | | | | |"
                )
                continue
            lines.append(
                f"| {r['variant']} | {r['description']} | {r['images_per_s']:.3f} | "
                f"{r['best_images_per_s']:.3f} | "
                f"{r['ratio']:.2f}x | {r['gflops']:.1f} | {r['frac_own']:.0%} | "
                f"{r['frac_bf16']:.0%} | {r['peak_rss']:.0f} | {r['rss_ratio']:.0%} | "
                f"{r['step_increase']:.0f} | {r['cpu_share']:.2f} |"
            )
        if self.predict:
            p = self.predict
            base = p["seconds"]["loop_fp32_b1"]
            per_face = self.flops["restorer_per_face"]
            lines += [
                "",
                f"### Predict end to end: {p['faces']} real 16x16 faces read, restored, written "
                f"as PNG (width {a['width']} restorer, random weights via save_restorer; "
                f"project batch size {a['predict_batch']})",
                "",
                f"Restorer forward: {per_face / 1e9:.2f} GFLOP per face.",
                "",
                "| variant | what | seconds | faces/s | vs loop | restorer GFLOP/s |",
                "|---|---|---:|---:|---:|---:|",
            ]
            for name, seconds in p["seconds"].items():
                lines.append(
                    f"| {name} | {PREDICT_VARIANTS[name]} | {seconds:.1f} | "
                    f"{p['faces'] / seconds:.1f} | {base / seconds:.2f}x | "
                    f"{per_face * p['faces'] / seconds / 1e9:.1f} |"
                )
            lines += [
                "",
                "### Fidelity",
                "",
                "Restorer outputs (uint8 PNG) against the fp32 batch-1 loop "
                f"({p['saturated_fraction']:.1%} of the loop's output pixels are 0 or 255):",
                "",
                "| variant | PSNR pooled dB | PSNR worst face dB | identical faces | "
                "max abs diff |",
                "|---|---:|---:|---:|---:|",
            ]
            for name, fid in p["fidelity_vs_loop_fp32"].items():
                lines.append(
                    f"| {name} | {fid['psnr_pooled_db']:.1f} | {fid['psnr_worst_db']:.1f} | "
                    f"{fid['identical_fraction']:.0%} | {fid['max_abs_diff']:.0f} |"
                )
        if self.fidelity:
            fid = self.fidelity
            lines += [
                "",
                f"Training losses, bf16-mixed vs 32-true, width 0.125, batch {fid['batch']}, "
                f"{fid['steps']} steps on the same fixed batches and initial weights "
                "(relative deviation |bf16 - fp32| / |fp32|):",
                "",
                "| loss | first step | median over steps | max over steps | max abs | "
                "max abs / mean abs fp32 loss |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for key, dev in fid["relative_deviation"].items():
                tail = (
                    f"{dev['max_abs']:.2e} | {dev['max_vs_mean']:.2e}"
                    if "max_abs" in dev
                    else "- | -"
                )
                lines.append(
                    f"| {key} | {dev['first_step']:.2e} | {dev['median']:.2e} | "
                    f"{dev['max']:.2e} | {tail} |"
                )
        targets = self.targets()
        if targets:
            lines += [
                "",
                "### Targets (from the speed issue)",
                "",
                "| target | measured | met |",
                "|---|---|---|",
            ]
            for target, measured, met in targets:
                flag = "n/a" if met is None else ("yes" if met else "**no**")
                lines.append(f"| {target} | {measured} | {flag} |")
        return "\n".join(lines) + "\n"


def write_markdown(path: Path, body: str) -> None:
    """Replace the marked block of ``path`` (append one, or create the file); other text stays."""
    block = f"{MARK_BEGIN}\n{body}{MARK_END}\n"
    if path.is_file():
        text = path.read_text()
        if MARK_BEGIN in text and MARK_END in text:
            head, rest = text.split(MARK_BEGIN, 1)
            tail = rest.split(MARK_END, 1)[1].lstrip("\n")
            path.write_text(head + block + tail)
        else:
            path.write_text(text.rstrip("\n") + "\n\n" + block)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Performance\n\n" + block)


# ------------------------------------------------------------------------------ main flow
def summarise_training(results: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """Merge the repetitions of one variant: median over all timed steps."""
    errors = [r for r in results if "error" in r]
    if errors:
        return {"error": errors[0]["error"]}
    steps = [t for r in results for t in r["step_s"]]
    median = statistics.median(steps)
    return {
        "step_s": steps,
        "warmup_s": [t for r in results for t in r["warmup_s"]],
        "median_step_s": median,
        "images_per_s": batch / median,
        "best_images_per_s": batch / min(steps),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
        "rss_before_mib": min(r["rss_before_mib"] for r in results),
        "cpu_share": min(r["cpu_share"] for r in results),
    }


def _brief(result: dict[str, Any]) -> str:
    steps = [round(t, 2) for t in result["warmup_s"] + result["step_s"]]
    return (
        f"steps (warm-up first) {steps} s, peak RSS {result['peak_rss_mib']:.0f} MiB, "
        f"CPU share {result['cpu_share']:.2f}"
    )


def log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def save_partial(report: Report, args: argparse.Namespace) -> None:
    """Write what is measured so far to ``--json``: a long run killed late still leaves data."""
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1, default=str))


def orchestrate(args: argparse.Namespace) -> Report:
    """The whole benchmark in this process, training variants in subprocesses."""
    started = time.perf_counter()
    report = Report(args=dict(vars(args), data=str(args.data)), machine=machine_description())
    report.args["started"] = time.strftime("%Y-%m-%d %H:%M")
    channels, size, cbatch = (64, 16, 8) if args.smoke else (256, 32, 32)
    report.args["ceiling_shape"] = f"{channels}->{channels} channels, {size}x{size}, batch {cbatch}"
    ceiling_repeats = 3 if args.smoke else 7
    log("convolution ceiling")
    report.ceiling_runs.append(conv_ceiling(channels, size, cbatch, ceiling_repeats))
    log(f"  {report.ceiling_runs[-1]}")
    log("counting FLOPs")
    report.flops = count_flops(args.width, args.batch, args.data, module=not args.smoke)
    log(f"  {report.flops}")

    variants = list(args.variants)
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rep in range(args.repeats):
        for name in variants if rep % 2 == 0 else variants[::-1]:
            log(f"training variant {name} (repetition {rep + 1})")
            result = spawn_variant(name, args)
            raw[name].append(result)
            log(f"  {result.get('error') or _brief(result)}")
    report.training = {name: summarise_training(raw[name], args.batch) for name in variants}
    save_partial(report, args)

    if args.faces > 0:
        log(f"predict, {args.faces} faces")
        with tempfile.TemporaryDirectory() as tmp:
            report.predict = run_predict(args, Path(tmp))
        save_partial(report, args)
        log(f"  {report.predict['seconds']}")
    if args.fidelity_steps > 0:
        log(f"training fidelity, {args.fidelity_steps} steps")
        report.fidelity = training_fidelity(args.fidelity_steps, args.fidelity_batch, args.data)

    log("convolution ceiling again")
    report.ceiling_runs.append(conv_ceiling(channels, size, cbatch, ceiling_repeats))
    report.wall_s = time.perf_counter() - started
    report.load_avg_end = os.getloadavg()[0]
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repetitions of every variant; order reversed every other one",
    )
    parser.add_argument("--faces", type=int, default=512, help="predict: faces (0 skips)")
    parser.add_argument("--predict-batch", type=int, default=16)
    parser.add_argument("--fidelity-steps", type=int, default=50, help="0 skips")
    parser.add_argument("--fidelity-batch", type=int, default=4)
    parser.add_argument(
        "--variants",
        type=lambda s: [v for v in s.split(",") if v],
        default=list(DEFAULT_VARIANTS),
        help=f"comma list of: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run for CI: width 0.125, batch 2, 2 steps, 16 faces",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables into this file")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument(
        "--render", type=Path, help="measure nothing: print (and --markdown) a saved --json"
    )
    parser.add_argument("--_variant", dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--_result", dest="result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.width, args.batch, args.steps, args.warmup = 0.125, 2, 2, 1
        args.faces, args.predict_batch = 16, 8
        args.fidelity_steps, args.fidelity_batch = 2, 2
        if args.variants == list(DEFAULT_VARIANTS):
            args.variants = list(SMOKE_VARIANTS)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if "baseline" not in args.variants and args.variant is None:
        args.variants.insert(0, "baseline")
    if min(args.steps, args.batch) < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--steps and --batch must be >= 1, --warmup >= 0, --repeats >= 1")
    return args


def _quiet() -> None:
    """Lightning's advice about workers and loggers is noise in a benchmark's output."""
    warnings.filterwarnings("ignore")
    import logging

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _quiet()
    if args.variant:
        result = run_variant(args.variant, args)
        args.result.write_text(json.dumps(result))
        return 0
    args.command = "python scripts/benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.render:
        report = Report(**json.loads(args.render.read_text()))
    else:
        report = orchestrate(args)
        save_partial(report, args)
    body = report.markdown()
    print(body)
    if args.markdown:
        write_markdown(args.markdown, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
