"""Measure up to which face size restoring through the model's 16 px input beats bicubic.

For each face side s, every HR face of ``--faces`` is shrunk to s x s (antialiased bicubic),
then brought to 4s two ways: (a) bicubic of the s-px face, (b) s -> 16 px, the restorer to
64 px, then resized to 4s. Both are scored (PSNR, RGB, 8-bit) against the HR face resized to
4s. The default ``photo.max_face`` is the largest s where (b) still beats (a) on average:

    python scripts/choose_max_face.py --markdown docs/max_face.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scgan_lightning.data.image_io import list_images, read_rgb, resize, to_tensor, to_uint8
from scgan_lightning.inference.engine import RestoreEngine
from scgan_lightning.inference.models import load_model, model_label

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces_hr" / "val"
SIZES = (10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of HR faces")
    parser.add_argument("--ckpt", default=None, help="restorer (default: the bundled one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser.parse_args()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def measure(engine: RestoreEngine, faces: list, size: int, lr_size: int) -> dict[str, float]:
    """Mean PSNR of (a) and (b) at face side ``size``, and the share of faces (b) wins."""
    out = 4 * size
    small = [resize(face, size) for face in faces]
    lr = torch.stack([to_tensor(resize(face, lr_size)) for face in small])
    restored = engine.restore(lr)
    bicubic, through, wins = [], [], 0
    for face, tiny, sr in zip(faces, small, restored, strict=True):
        target = np.asarray(resize(face, out))
        a = psnr(np.asarray(resize(tiny, out)), target)
        b = psnr(np.asarray(resize(to_image(sr), out)), target)
        bicubic.append(a)
        through.append(b)
        wins += b > a
    return {
        "size": size,
        "bicubic": float(np.mean(bicubic)),
        "restored": float(np.mean(through)),
        "wins": wins / len(faces),
    }


def to_image(tensor: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(tensor))


def table(rows: list[dict[str, float]], choice: int, header: str) -> str:
    lines = [
        header,
        "",
        "| face side s (px) | (a) bicubic s -> 4s, dB | (b) via 16 px + restorer, dB "
        "| (b) - (a), dB | faces where (b) wins |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        mark = " **(default max_face)**" if row["size"] == choice else ""
        lines.append(
            f"| {row['size']}{mark} | {row['bicubic']:.2f} | {row['restored']:.2f} | "
            f"{row['restored'] - row['bicubic']:+.2f} | {100 * row['wins']:.0f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    if not args.faces.is_dir():
        raise SystemExit(f"error: {args.faces}: no such folder (pass --faces)")
    torch.manual_seed(0)
    loaded = load_model(args.ckpt)
    engine = RestoreEngine(loaded.model, "cpu", batch_size=64, scale=loaded.scale)
    lr_size = 64 // loaded.scale
    faces = [read_rgb(p) for p in list_images(args.faces)]
    start = time.perf_counter()
    rows = [measure(engine, faces, size, lr_size) for size in sorted(args.sizes)]
    beating = [row["size"] for row in rows if row["restored"] > row["bicubic"]]
    choice = max(beating) if beating else 0
    header = (
        f"{len(faces)} faces from {args.faces.name}/, model {model_label(args.ckpt)}, "
        f"float32; {time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.1f}. "
        f"Largest s where (b) beats (a): {choice}"
    )
    text = table(rows, choice, header)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
