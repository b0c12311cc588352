"""One prepared GPU run of a training recipe at a larger width, safe against a time-out.

The lent GPU comes for minutes, so this trains from scratch in one go (an L1 stage for G_DHL
and G_RLS, then the semi-cycled GAN step with the tuned weights) and, every ``--every``
seconds while it runs, copies into ``$OUT``:
  restorers/restorer_<iteration>.pt  the EMA restorer of the newest checkpoint (small)
  metrics.csv                        the training log so far
  progress.txt                       one line per copy: time, iteration, latest val PSNR
so a run killed at its limit loses at most one interval. Example (device machine, repo root):
  python tools/gpu_train_recipe.py --data-dir /data/scgan_faces --width 0.5 --minutes 8
``--experiment bench_scgan`` runs the controlled benchmark's SCGAN recipe instead, on a
controlled set built from the demo faces in the working tree (``data/demo``, 9 MB), so it
needs no data on the device: ``python tools/gpu_train_recipe.py --experiment bench_scgan``.
``--smoke`` runs the same loop for a few CPU iterations on generated folders (tested in CI).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scgan_lightning.checkpoints import load_restorer, save_restorer

REPO = Path(__file__).resolve().parents[1]


def data_overrides(args: argparse.Namespace, log_dir: Path) -> list[str]:
    """faces_gan reads ``--data-dir``; bench_scgan builds its unpaired halves from the demo."""
    if args.experiment == "faces_gan":
        return [f"paths.data_dir={args.data_dir}"]
    demo = REPO / "data" / "demo"
    return [
        f"data.sources=[{demo / 'hr_train'}]",
        f"data.val_sources=[{demo / 'hr_val'}]",
        f"data.set_dir={log_dir / 'controlled_set'}",
        f"model.degrader.width={args.width / 2}",  # the recipe's ratio (0.125 to 0.25)
        f"model.discriminator.width={args.width / 2}",
    ]


def training_command(args: argparse.Namespace, log_dir: Path) -> list[str]:
    """``--experiment`` from scratch at ``--width``, stopped by ``--minutes``."""
    minutes = max(1, int(args.minutes))
    command = [
        sys.executable,
        "-m",
        "scgan_lightning.train",
        f"experiment={args.experiment}",
        *data_overrides(args, log_dir),
        f"paths.log_dir={log_dir}",
        f"model.net.width={args.width}",
        "model.init_from=null",
        "model.stages.pretrain_restorer=true",
        f"model.stages.pretrain={args.pretrain}",
        f"model.stages.content_warmup={args.pretrain}",
        f"data.batch_size={args.batch_size}",
        f"trainer.max_time=00:00:{minutes:02d}:00",  # ends the run, unless the budget does first
        f"trainer.val_check_interval={args.val_every}",
        "print_config=false",
        "~callbacks.progress_bar",
    ]
    if args.smoke:
        command += [
            "trainer=cpu",
            "trainer.precision=32",
            "data.batch_size=2",
            "data.max_val_images=4",
            "trainer.limit_train_batches=4",
            "trainer.max_epochs=1",
            "trainer.log_every_n_steps=1",
            "data.num_workers=0",
        ]
    else:
        command += ["trainer=gpu", "trainer.precision=bf16-mixed", "data.num_workers=4", *args.fast]
    return command


def newest(pattern: str, root: Path) -> Path | None:
    files = sorted(root.rglob(pattern), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def latest_val_psnr(metrics_csv: Path) -> str:
    with metrics_csv.open() as handle:
        values = [row["val/psnr"] for row in csv.DictReader(handle) if row.get("val/psnr")]
    return values[-1] if values else "-"


def copy_progress(log_dir: Path, out: Path, started: float) -> None:
    """Export the newest checkpoint's restorer and copy the log; partial files never land."""
    checkpoint = newest("last.ckpt", log_dir)
    if checkpoint is not None:
        try:
            iteration = torch.load(checkpoint, map_location="cpu", weights_only=True)["scgan"][
                "iteration"
            ]
            loaded = load_restorer(checkpoint)
        except (RuntimeError, EOFError, KeyError, OSError):
            return  # caught mid-write: the next interval takes it
        target = out / "restorers" / f"restorer_{iteration:06d}.pt"
        if not target.exists():
            config = {"scale": loaded.scale, "iteration": iteration}
            save_restorer(target, loaded.model, loaded.net, config, ema=loaded.ema)
    metrics_csv = newest("metrics.csv", log_dir)
    if metrics_csv is not None:
        shutil.copyfile(metrics_csv, out / "metrics.csv")
        with (out / "progress.txt").open("a") as handle:
            handle.write(
                f"{time.time() - started:7.0f} s  checkpoint {checkpoint}  "
                f"val/psnr {latest_val_psnr(metrics_csv)}\n"
            )


def make_smoke_data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for folder, count, size in (
        ("faces_hr/train", 8, 64),
        ("faces_hr/val", 4, 64),
        ("faces_lr_real/train", 8, 16),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
            image = Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC)
            image.save(root / folder / f"{i:03d}.png")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=("faces_gan", "bench_scgan"), default="faces_gan")
    parser.add_argument("--data-dir", type=Path, help="faces_gan: faces_hr/, faces_lr_real/")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_recipe")))
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pretrain", type=int, default=3000, help="L1-stage iterations")
    parser.add_argument("--val-every", type=int, default=500, help="iterations between vals")
    parser.add_argument("--minutes", type=float, default=8.0, help="training time limit")
    parser.add_argument("--every", type=float, default=90.0, help="seconds between copies")
    parser.add_argument("--smoke", action="store_true", help="a few CPU iterations, fake data")
    parser.add_argument(
        "--fast",
        nargs="*",
        default=[],
        help="extra training overrides on the GPU (the fast path: benchmarks/gpu.py FAST)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if args.smoke and args.experiment == "faces_gan":
            args.data_dir = make_smoke_data(Path(scratch) / "data")
        if args.smoke:
            args.width, args.pretrain, args.val_every, args.every = 0.0625, 2, 2, 1.0
        if args.data_dir is None and args.experiment == "faces_gan":
            parser.error("--data-dir is required (tools/build_face_sets.py makes one)")
        log_dir = Path(scratch) / "runs"
        started = time.time()
        process = subprocess.Popen(training_command(args, log_dir))
        while process.poll() is None:
            time.sleep(args.every)
            copy_progress(log_dir, args.out, started)
        copy_progress(log_dir, args.out, started)
        restorer = newest("restorer.pt", log_dir)
        if restorer is not None:
            shutil.copyfile(restorer, args.out / "restorer_final.pt")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
