"""How far bf16 outputs are from float32 ones, in grey levels of the written 8-bit images.

Two restorers: the bundled one, and a released-format checkpoint (the authors' key layout,
width 1.0, weights by the golden-test rule of ``tests/golden_weights.py``) loaded as
``pretrained_model.pth`` would be. Both run on the same real LR faces:

    python scripts/bf16_deviation.py --count 256
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from scgan_lightning.checkpoints import load_restorer
from scgan_lightning.data.image_io import list_images, read_rgb, to_tensor
from scgan_lightning.inference.engine import restore_batch
from scgan_lightning.inference.models import BUNDLED_RESTORER, load_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FACES = ROOT.parent / "shared" / "data" / "faces_lr_real"


def released_format() -> torch.nn.Module:
    sys.path.insert(0, str(ROOT))
    from tests.golden_weights import released_state_dict

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pretrained_model.pth"
        torch.save({"G_l2h": released_state_dict("restorer", "G_RLS")}, path)
        return load_restorer(path).model


def grey_levels(sr: torch.Tensor) -> torch.Tensor:
    """What is written: ``(y + 1) * 127.5``, clamped and rounded to 8 bits."""
    return ((sr + 1) * 127.5).clamp(0, 255).round()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--count", type=int, default=256)
    args = parser.parse_args()
    files = list_images(args.faces)[: args.count]
    lr = torch.stack([to_tensor(read_rgb(p)) for p in files])
    models = {
        f"bundled {BUNDLED_RESTORER}": load_model(None).model,
        "released format, width 1.0": released_format(),
    }
    print(f"{len(files)} real LR faces from {args.faces}; torch {torch.__version__}")
    print("| restorer | layout | max abs, grey levels | mean abs | pixels differing |")
    print("|---|---|---:|---:|---:|")
    for name, model in models.items():
        model.eval()
        reference = torch.cat([grey_levels(restore_batch(model, part)) for part in lr.split(16)])
        for channels_last in (False, True):
            model.to(
                memory_format=torch.channels_last if channels_last else torch.contiguous_format
            )
            bf16 = torch.cat(
                [
                    grey_levels(restore_batch(model, part, "bf16", channels_last))
                    for part in lr.split(16)
                ]
            )
            diff = (bf16 - reference).abs()
            layout = "channels-last" if channels_last else "NCHW"
            print(
                f"| {name} | {layout} | {diff.max():.0f} | {diff.mean():.2f} | "
                f"{100 * (diff > 0).float().mean():.1f}% |"
            )
        model.to(memory_format=torch.contiguous_format)


if __name__ == "__main__":
    main()
