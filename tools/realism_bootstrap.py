"""Whether one restorer's descriptor FD / KID beats another's beyond resampling noise.

    python tools/realism_bootstrap.py --lr-dir faces_lr_real/heldout --ref-dir faces_hr/val \
        --models l1=src/scgan_lightning/assets/scgan_faces_small.pt \
                 real=src/scgan_lightning/assets/scgan_faces_real.pt

The report's FD / KID come from one sample of faces; the floor it prints (HR against HR) says
how far apart two samples of one population lie, not whether two restorers' distances differ.
This resamples the real LR faces and the reference faces with replacement, the same draw for
both restorers (a paired bootstrap), and gives the mean and spread of the difference
(first minus second) and how often the first is farther from the reference.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.agreement import restored_8bit
from scgan_lightning.evaluation.faces import face_files, load_faces
from scgan_lightning.imaging import as_8bit
from scgan_lightning.inference import FaceRestorer
from scgan_lightning.metrics.realism import DescriptorRealism


def restored_descriptors(path: str, lr: torch.Tensor, realism: DescriptorRealism) -> torch.Tensor:
    restorer = FaceRestorer.from_checkpoint(path, device="cpu", precision="32")
    restored = restored_8bit(restorer.restore_faces, lr, batch_size=64)
    return realism.features(restored.split(64))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr-dir", required=True, help="real LR faces")
    parser.add_argument("--ref-dir", required=True, help="HR reference faces")
    parser.add_argument("--models", nargs=2, required=True, help="first=ckpt second=ckpt")
    parser.add_argument("--max-lr", type=int, default=500)
    parser.add_argument("--max-ref", type=int, default=400)
    parser.add_argument("--resamples", type=int, default=200)
    args = parser.parse_args()
    try:
        names, paths = zip(*(item.split("=", 1) for item in args.models), strict=True)
        lr = as_8bit(load_faces(face_files(args.lr_dir, "lr_dir", args.max_lr), 16))
        reference = load_faces(face_files(args.ref_dir, "ref_dir", args.max_ref), 64)
        realism = DescriptorRealism()
        ref = realism.features(reference.split(64))
        first, second = (restored_descriptors(p, lr, realism) for p in paths)
    except (UserError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    full = {name: realism.distances(ref, d) for name, d in zip(names, (first, second), strict=True)}
    rng = np.random.default_rng(0)
    differences: dict[str, list[float]] = {"fd": [], "kid": []}
    for draw in range(args.resamples):
        faces = torch.from_numpy(rng.integers(0, len(first), len(first)))
        refs = torch.from_numpy(rng.integers(0, len(ref), len(ref)))
        a = realism.distances(ref[refs], first[faces], seed=draw)
        b = realism.distances(ref[refs], second[faces], seed=draw)
        for key, values in differences.items():
            values.append(a[key] - b[key])
    summary = {
        key: {
            "mean": float(np.mean(v)),
            "std": float(np.std(v)),
            "first_farther": float(np.mean(np.array(v) > 0)),
        }
        for key, v in differences.items()
    }
    result = {"sizes": {"lr": len(first), "ref": len(ref)}, "full": full, "difference": summary}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
