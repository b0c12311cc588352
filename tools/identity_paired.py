"""Whether two restorers' identity distances differ beyond noise, face by face.

    python tools/identity_paired.py --pairs-dir outputs/controlled/<chain>/val \
        --a naive.pt --b scgan.pt

The report gives each restorer's mean dlib identity distance; at 16x16 inputs those means lie
within hundredths of each other, so this prints the mean per-face difference (B - A), its
standard error and the share of faces where B is closer to the HR face.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.benchmark import pair_tensors
from scgan_lightning.inference import FaceRestorer
from scgan_lightning.metrics.identity import IdentityDistance


def per_face_distances(
    checkpoint: str, lr: torch.Tensor, hr: torch.Tensor, identity: IdentityDistance
) -> torch.Tensor:
    """Identity distance of each restored face to its HR face (float32, CPU)."""
    restorer = FaceRestorer.from_checkpoint(checkpoint, device="cpu", precision="32")
    return identity(restorer.restore_faces(lr).clamp(-1, 1), hr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-dir", type=Path, required=True, help="a controlled set's val/")
    parser.add_argument("--a", required=True, help="the reference restorer (e.g. naive)")
    parser.add_argument("--b", required=True, help="the restorer compared with it")
    args = parser.parse_args()
    try:
        hr, lr = pair_tensors(args.pairs_dir)
        identity = IdentityDistance()
        a, b = (per_face_distances(c, lr, hr, identity) for c in (args.a, args.b))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    difference = b - a
    print(
        f"{len(difference)} faces: A {float(a.mean()):.4f}, B {float(b.mean()):.4f}, "
        f"B - A {float(difference.mean()):+.4f} +- {float(difference.std()) / len(a) ** 0.5:.4f} "
        f"(standard error); B closer on {float((difference < 0).float().mean()):.0%} of faces"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
