"""Show a restorer on real LR faces: one PNG of LR (pixels) | bicubic | restored triplets.

The model card's samples come from here, and it works for any checkpoint ``predict`` takes:

    python tools/sample_grid.py --output checkpoints/sample_real_lr.png
    python tools/sample_grid.py --ckpt outputs/faces_small/<run>/restorer.pt --count 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from scgan_lightning.errors import UserError
from scgan_lightning.grids import face_table, rows_of
from scgan_lightning.imaging import bicubic_upsample, list_images, read_face, save_png
from scgan_lightning.inference.restorer import FaceRestorer

DEMO_FACES = Path(__file__).resolve().parents[1] / "data" / "demo" / "lr_test"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default=None, help="checkpoint (default: the bundled one)")
    parser.add_argument("--faces", type=Path, default=DEMO_FACES, help="folder of real LR faces")
    parser.add_argument("--count", type=int, default=8, help="faces shown (the first, by name)")
    parser.add_argument("--per-row", type=int, default=4, help="triplets per grid row")
    parser.add_argument("--zoom", type=int, default=2, help="nearest-neighbour display zoom")
    parser.add_argument("--output", type=Path, required=True, help="PNG to write")
    return parser.parse_args()


def triplets(restorer: FaceRestorer, files: list[Path]) -> torch.Tensor:
    """(3N, 3, H, W): for each face its LR pixels, the bicubic baseline and the restorer."""
    lr = torch.stack([read_face(path, restorer.lr_size, square=False) for path in files])
    pixels = F.interpolate(lr, scale_factor=restorer.scale, mode="nearest")
    bicubic = bicubic_upsample(lr, restorer.hr_size)
    restored = restorer.restore_faces(lr).clamp(-1, 1)
    return torch.stack([pixels, bicubic, restored], dim=1).flatten(0, 1)


def main() -> int:
    args = parse_args()
    try:
        files = list_images(args.faces)[: args.count]
        if not files:
            raise UserError(f"{args.faces}: no images found")
        restorer = FaceRestorer.from_checkpoint(args.ckpt, "cpu", "32", channels_last=False)
        tiles = triplets(restorer, files)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_png(face_table(rows_of(tiles, 3 * args.per_row), zoom=args.zoom), args.output)
    print(f"{len(files)} faces -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
