"""Time ``predict`` on real LR faces with a full-width (1.0) randomly initialised restorer.

Random weights cost the same as trained ones, so this measures the product's throughput
(reading, resizing, the network, writing PNGs) without needing a trained checkpoint:

    python scripts/time_predict.py --count 1000 --precisions 32 bf16
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.nets import Restorer
from scgan_lightning.predict import PredictOptions, predict, restore_batch

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces_lr_real"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of LR faces")
    parser.add_argument("--count", type=int, default=1000, help="faces to restore per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precisions", nargs="+", default=["32", "bf16"], choices=["32", "bf16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    return parser.parse_args()


def stage_faces(source: Path, count: int, folder: Path) -> int:
    """Copy the first ``count`` faces (by name) so every run reads the same files."""
    names = sorted(p.name for p in source.glob("*.png"))[:count]
    if len(names) < count:
        raise SystemExit(f"error: {source}: only {len(names)} PNG faces, {count} asked for")
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(source / name, folder / name)
    return len(names)


def main() -> None:
    args = parse_args()
    if not args.faces.is_dir():
        raise SystemExit(f"error: {args.faces}: no such folder (pass --faces)")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        count = stage_faces(args.faces, args.count, work / "in")
        torch.manual_seed(0)
        ckpt = work / "restorer.pt"
        save_restorer(ckpt, Restorer(), {"width": 1.0, "scale": 4, "hr_size": 64}, ema=False)
        loaded = load_restorer(ckpt)
        loaded.model.to(args.device)
        print(
            f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
            f"cpus={os.cpu_count()} faces={count} batch_size={args.batch_size}"
        )
        for precision in args.precisions:
            warm = torch.zeros(args.batch_size, 3, 16, 16)
            restore_batch(loaded.model, warm, precision)
            options = PredictOptions(
                input=str(work / "in"),
                output=str(work / f"out_{precision}"),
                batch_size=args.batch_size,
                device=args.device,
                precision=precision,
                num_workers=args.num_workers,
                progress=False,
            )
            start, cpu_start = time.perf_counter(), time.process_time()
            summary = predict(options, loaded=loaded)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
            print(
                f"precision={precision}: {summary.done} faces in {seconds:.1f} s wall, "
                f"{cpu_seconds:.1f} s CPU ({summary.done / seconds:.2f} faces/s, "
                f"{1000 * seconds / count:.1f} ms/face), failed={summary.failed}, "
                f"load average {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
