"""The one measuring module of the benchmarks: batches, the step timer, the Trainer set-up,
memory (one way per device), and what the CPU benchmark measures with them (variants, the
convolution ceiling, FLOPs, predict, fidelity, the preset probe). ``cpu.py`` and ``gpu.py``
are the command lines and reports; no formatting here."""

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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from scgan_lightning.imaging import list_images, read_face, read_rgb, save_png, to_tensor, to_uint8
from scgan_lightning.inference.job import predict
from scgan_lightning.inference.options import PredictOptions
from scgan_lightning.nets import NOISE_DIM, Degrader, Discriminator, Restorer
from scgan_lightning.training.module import DISCRIMINATORS, GENERATORS, SCGANModule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SEED = 2020
HR_SIZE, SCALE = 64, 4
LR_SIZE = HR_SIZE // SCALE
ALPHA, BETA, THETA, GAMMA = 1.0, 0.05, 1.0, 0.05


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
def make_batches(count: int, batch: int, data: Path | None, seed: int = SEED) -> list[dict]:
    """``count`` fixed batches of real HR and real LR faces (random pixels if ``data`` is None
    or lacks them): data loading is not what is measured.

    Fixed z per batch, so every variant (and the bf16/fp32 fidelity pair) sees the same input.
    """
    generator = torch.Generator().manual_seed(seed)
    hr_files, lr_files = [], []
    if data is not None and (data / "faces_hr").is_dir() and (data / "faces_lr_real").is_dir():
        hr_files = list_images(data / "faces_hr" / "train")
        lr_files = list_images(data / "faces_lr_real")
    needed = count * batch
    batches = []
    for index in range(count):
        part = slice(index * batch, (index + 1) * batch)
        if len(hr_files) >= needed and len(lr_files) >= needed:
            hr = torch.stack([read_face(p, HR_SIZE) for p in hr_files[part]])
            lr = torch.stack([read_face(p, LR_SIZE, square=False) for p in lr_files[part]])
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
    """Wall time of each training batch (the whole ``training_step``: forward, backward, Adam)
    and of the window from batch ``warmup`` to the end of training.

    ``sync``: wait for the GPU at both ends of the window only (never per step, which would
    hide the host running ahead), and reset the peak-memory counter at its start, so the
    window's time and ``peak_memory_mib`` belong to the timed steps. Per-batch times are
    meaningful on the CPU only.
    """

    def __init__(self, warmup: int = 0, sync: bool = False) -> None:
        self.warmup, self.sync = warmup, sync
        self.times: list[float] = []
        self.losses: list[dict[str, float]] = []
        self.window_s = math.nan
        self.window_steps = 0
        self._start = self._window_start = 0.0

    def _synchronize(self) -> None:
        if self.sync:
            torch.cuda.synchronize()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == self.warmup:
            self._synchronize()
            if self.sync:
                torch.cuda.reset_peak_memory_stats()
            self._window_start = time.perf_counter()
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
        self.window_steps += batch_idx >= self.warmup
        if isinstance(outputs, dict) and not self.sync:
            self.losses.append({k: float(v) for k, v in outputs.items()})

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._synchronize()
        self.window_s = time.perf_counter() - self._window_start


def build_module(
    width: float,
    *,
    channels_last: bool = False,
    adam_impl: str = "default",
    compile_mode: str | None = None,
) -> SCGANModule:
    """The module as a user configures it; ``compile_mode`` compiles the generators' forward.

    Generators only: compiled discriminators fail in backward ("modified by an inplace
    operation"), the spectral norm's in-place u/v updates clash with the traced graph.
    """
    torch.manual_seed(SEED)
    module = SCGANModule(
        width=width,
        hr_size=HR_SIZE,
        scale=SCALE,
        channels_last=channels_last,
        adam_impl=adam_impl,
    )
    if compile_mode is not None:
        for name in GENERATORS:
            getattr(module, name).compile(mode=compile_mode)
    return module


def variant_module(width: float, variant: Variant) -> SCGANModule:
    return build_module(
        width,
        channels_last=variant.channels_last,
        adam_impl=variant.adam_impl,
        compile_mode="default" if variant.compile else None,
    )


def fit_module(
    module: SCGANModule,
    batches: Sequence[dict],
    precision: str,
    *,
    accelerator: str = "cpu",
    callbacks: Sequence[pl.Callback] = (),
    warmup: int = 0,
) -> StepTimer:
    """One epoch over ``batches`` with a real Trainer; returns its timer.

    Each step's noise is the batch's ``z``, so runs over the same batches see the same input.
    """
    timer = StepTimer(warmup, sync=accelerator == "gpu")
    noise = iter([batch["z"] for batch in batches])
    module.sample_noise = lambda batch_size, device: next(noise).to(device)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_epochs=1,
        logger=False,
        log_every_n_steps=10_000,  # no logging step (a host read) among the timed ones
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer, *callbacks],
    )
    loader = DataLoader(FixedBatches(batches), batch_size=None, pin_memory=accelerator == "gpu")
    trainer.fit(module, train_dataloaders=loader)
    return timer


def peak_memory_mib(device: str = "cpu") -> float:
    """The peak memory of this process on ``device``: CUDA's allocator peak on a GPU, else the
    process's own ``VmHWM`` (see ``status_mib``)."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return status_mib("VmHWM")


# ------------------------------------------------------------------ one variant (subprocess)
def status_mib(key: str) -> float:
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
        rss_before = status_mib("VmRSS")
        cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
        times = []
        for batch in schedule:
            start = time.perf_counter()
            step.step(batch["hr"], batch["lr"], batch["z"])
            times.append(time.perf_counter() - start)
    else:
        module = variant_module(args.width, variant)
        rss_before = status_mib("VmRSS")
        cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
        times = fit_module(module, schedule, variant.precision).times
    return {
        "variant": name,
        "step_s": times[args.warmup :],
        "warmup_s": times[: args.warmup],
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_memory_mib("cpu"),
        # Cores this process actually got: about the thread count on an idle machine, less
        # when other work shares the CPU (then the times are inflated).
        "cpu_share": (_cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before),
    }


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
    """The project's folder pipeline (``scgan_lightning.inference.job.predict``)."""
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


# ----------------------------------------------------------------------------- reporting
def machine_description() -> dict[str, Any]:
    """CPU model, cores, bf16 support, the GPU (if any), library versions, threads, load."""
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
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "bf16_isa": sorted(f for f in flags if "bf16" in f or f.startswith("amx")),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0],
    }


# ------------------------------------------------------------------------- CPU preset probe
# The CPU presets worth choosing between: the plain loop's layout and precision, and the two
# faster layouts. Which is fastest depends on the CPU (AMX, AVX-512 BF16, neither), not on flags
# alone: bf16 channels-last was 2.3x fp32 NCHW on an AMD EPYC and 0.85x on an Intel Xeon
# without AMX (docs/PERFORMANCE.md), so the preset is chosen by timing it here.
PRESET_CANDIDATES = ("fp32", "fp32_cl_fused", "bf16_cl_fused")


def preset_overrides(name: str) -> str:
    """The training command's overrides that select variant ``name``."""
    variant = VARIANTS[name]
    precision = "bf16-mixed" if variant.bf16 else "32"
    return (
        f"trainer.precision={precision} model.channels_last={str(variant.channels_last).lower()} "
        f"model.adam_impl={variant.adam_impl}"
    )


def probe_presets(
    width: float, batch: int, steps: int, rounds: int, data: Path
) -> dict[str, list[float]]:
    """Timed training steps of each candidate, all in this process and interleaved.

    Round r runs the candidates in order, round r+1 in reverse, so that load from other work
    on a shared machine falls on all of them alike (``preset_choice`` ranks them by their
    fastest step, which a starved round cannot inflate); the first step of every round is a warm-up
    (oneDNN builds its kernels, Adam creates its state) and is not kept.
    """
    batches = make_batches(min(steps + 1, 4), batch, data)
    schedule = [batches[i % len(batches)] for i in range(steps + 1)]
    modules = {name: variant_module(width, VARIANTS[name]) for name in PRESET_CANDIDATES}
    times: dict[str, list[float]] = {name: [] for name in PRESET_CANDIDATES}
    for round_index in range(rounds):
        order = PRESET_CANDIDATES if round_index % 2 == 0 else PRESET_CANDIDATES[::-1]
        for name in order:
            timer = fit_module(modules[name], schedule, VARIANTS[name].precision)
            times[name] += timer.times[1:]
    return times


# ------------------------------------------------------------- runs of the training command
class RunTimer(pl.Callback):
    """Given to ``python -m scgan_lightning.train`` as a callback (``+callbacks.run_timer``):
    the window from batch ``warmup`` to the end of training, timed between two device syncs
    only, its peak memory, and every step's losses (kept as device tensors, read at the end, so
    the timed steps make no host read), written as JSON to ``path``."""

    def __init__(self, path: str, warmup: int = 10) -> None:
        self.path, self.warmup = Path(path), warmup
        self.losses: list[dict[str, torch.Tensor]] = []
        self._start = math.nan
        self._steps = 0
        self._batch = 0
        self.batch_size = 0

    def _sync(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._batch == self.warmup:
            self._sync(pl_module.device)
            if pl_module.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(pl_module.device)
            self._start = time.perf_counter()
        self._batch += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._steps += self._batch > self.warmup
        if isinstance(outputs, dict):
            self.losses.append({k: v.detach().clone() for k, v in outputs.items()})
        self.batch_size = batch["hr"].shape[0]

    def on_train_end(self, trainer, pl_module) -> None:
        self._sync(pl_module.device)
        seconds = time.perf_counter() - self._start
        device = pl_module.device.type
        self.path.write_text(
            json.dumps(
                {
                    "timed_steps": self._steps,
                    "seconds": seconds,
                    "images_per_s": self._steps * self.batch_size / seconds,
                    "peak_memory_mib": peak_memory_mib(device),
                    "losses": [{k: float(v) for k, v in s.items()} for s in self.losses],
                }
            )
        )
