"""Prediction end to end (read, restore, write PNG): the project's ``predict`` against the
batch-1 float32 loop a user writes first, and how far their written images differ."""

from __future__ import annotations

import argparse
import io
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rich.console import Console

from scgan_lightning import PredictOptions, predict
from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.imaging import list_images, read_rgb, save_png, to_tensor, to_uint8
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec

from .batches import LR_SIZE, SCALE, SEED


def prepare_predict(tmp: Path, width: float, faces: int, data: Path) -> tuple[Path, Path]:
    """A random-weight restorer saved with ``save_restorer`` and a folder of ``faces`` inputs."""
    torch.manual_seed(SEED)
    ckpt = tmp / "restorer.pt"
    save_restorer(ckpt, Restorer(width).eval(), restorer_spec(width), {"scale": SCALE}, ema=False)
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
