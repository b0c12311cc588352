"""What a run's G_DHL learned: its LR faces beside the true degradation's and avgpool's.

    python tools/degrader_view.py --ckpt outputs/benchmark/<chain>/scgan/checkpoints/last.ckpt \
        --pairs-dir outputs/controlled/<chain>/val --output checkpoints/benchmark/<chain>

Writes ``degrader_view.png`` (bands: avgpool(HR) | true LR | G_DHL(HR), on the same faces) and
``degrader_view.json`` (edge energy, noise sigma, colourfulness of each band, and the learned
laws of an explicit G_DHL).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.degrader_view import degrader_view, load_degrader, view_grid
from scgan_lightning.imaging import save_png


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a training .ckpt holding G_DHL")
    parser.add_argument("--pairs-dir", type=Path, required=True, help="a controlled set's val/")
    parser.add_argument("--faces", type=int, default=64, help="faces the statistics average")
    parser.add_argument("--shown", type=int, default=16, help="faces shown in the grid")
    parser.add_argument("--output", type=Path, required=True, help="folder to write into")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        degrader = load_degrader(args.ckpt)
        stats, stack = degrader_view(degrader, args.pairs_dir, args.faces)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    explicit = getattr(degrader, "explicit", None)
    result = {"statistics": stats, "faces": min(args.faces, stack.shape[1]), "ckpt": args.ckpt}
    if explicit is not None:
        result["learned_laws"] = explicit.summary()
    save_png(view_grid(stack, args.shown), args.output / "degrader_view.png")
    (args.output / "degrader_view.json").write_text(json.dumps(result, indent=2) + "\n")
    for band, values in stats.items():
        print(f"{band:>18}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    print(f"wrote {args.output / 'degrader_view.png'} and degrader_view.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
