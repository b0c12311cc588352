"""Time face-mode ``predict`` on real LR faces: the defaults, float32, and a batch-1 loop.

``--width 1.0`` times a randomly initialised full-width restorer (random weights cost the
same as trained ones); without it, the bundled restorer. Every variant reads, restores and
writes the same faces; the loop is the plain baseline (float32, one face per forward):

    python scripts/time_predict.py --count 1024 --variants auto 32 loop
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.data.image_io import list_images, read_rgb, save_png, to_tensor, to_uint8
from scgan_lightning.inference.engine import restore_batch
from scgan_lightning.inference.models import load_model
from scgan_lightning.nets import Restorer
from scgan_lightning.predict import PredictOptions, predict

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces_lr_real"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of LR faces")
    parser.add_argument("--count", type=int, default=1024, help="faces to restore per run")
    parser.add_argument("--width", type=float, help="random restorer of this width")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["auto", "32", "loop"],
        choices=["auto", "32", "bf16", "loop"],
    )
    parser.add_argument("--device", default="cpu")
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


def batch1_loop(model: torch.nn.Module, inputs: Path, output: Path) -> int:
    """The baseline: float32, NCHW, one face per forward pass."""
    output.mkdir()
    files = list_images(inputs)
    for path in files:
        lr = to_tensor(read_rgb(path))[None]
        save_png(to_uint8(restore_batch(model, lr)[0]), output / f"{path.stem}.png")
    return len(files)


def main() -> None:
    args = parse_args()
    if not args.faces.is_dir():
        raise SystemExit(f"error: {args.faces}: no such folder (pass --faces)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        count = stage_faces(args.faces, args.count, work / "in")
        if args.width:
            torch.manual_seed(0)
            ckpt = work / "restorer.pt"
            config = {"width": args.width, "scale": 4, "hr_size": 64}
            save_restorer(ckpt, Restorer(width=args.width), config, ema=False)
            loaded = load_restorer(ckpt)
        else:
            loaded = load_model(None)
        print(
            f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
            f"cpus={os.cpu_count()} faces={count} width={args.width or 'bundled'} "
            f"batch_size={args.batch_size} load={os.getloadavg()[0]:.1f}"
        )
        for variant in args.variants:
            start = time.perf_counter()
            if variant == "loop":
                done = batch1_loop(loaded.model.to(args.device).eval(), work / "in", work / "loop")
            else:
                options = PredictOptions(
                    input=str(work / "in"),
                    output=str(work / f"out_{variant}"),
                    batch_size=args.batch_size,
                    device=args.device,
                    precision=variant,
                    channels_last="auto",
                    progress=False,
                )
                done = predict(options, loaded=loaded, console=Console(quiet=True)).done
            seconds = time.perf_counter() - start
            print(
                f"{variant}: {done} faces in {seconds:.1f} s ({done / seconds:.1f} faces/s), "
                f"load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
