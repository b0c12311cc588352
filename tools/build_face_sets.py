"""Build the HR and real-LR face sets that the training experiments read (paths.data_dir).

From public releases you download yourself (nothing is fetched here):
  python tools/build_face_sets.py --out /data/scgan_faces \
      --hr-photos /downloads/celeba/img_align_celeba --hr-crop-fraction 0.7 \
      --wider-images /downloads/WIDER_train/images \
      --wider-annotations /downloads/wider_face_split/wider_face_train_bbx_gt.txt
writes <out>/faces_hr/{train,val} (64x64) and <out>/faces_lr_real/{train,heldout} (16x16), then
  python -m scgan_lightning.train experiment=faces_gan paths.data_dir=/data/scgan_faces
Either half can be built alone. Unreadable photos are listed and skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scgan_lightning.data.face_sets import BuildSummary, build_hr_set, build_lr_set
from scgan_lightning.errors import UserError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the data root to create")
    parser.add_argument("--hr-photos", type=Path, help="folder of aligned face photos")
    parser.add_argument("--hr-size", type=int, default=64)
    parser.add_argument(
        "--hr-crop-fraction",
        type=float,
        default=1.0,
        help="fraction of the centred square to keep (0.7 suits CelebA img_align_celeba)",
    )
    parser.add_argument("--hr-val-every", type=int, default=10, help="every Nth HR face -> val")
    parser.add_argument("--wider-images", type=Path, help="WIDER FACE WIDER_train/images")
    parser.add_argument("--wider-annotations", type=Path, help="wider_face_train_bbx_gt.txt")
    parser.add_argument("--lr-size", type=int, default=16)
    parser.add_argument("--min-face", type=int, default=10, help="smallest face side kept (px)")
    parser.add_argument("--max-face", type=int, default=36, help="largest face side kept (px)")
    parser.add_argument("--margin", type=float, default=0.25, help="square side = box x (1+m)")
    parser.add_argument(
        "--lr-holdout-every", type=int, default=10, help="every Nth LR face -> heldout"
    )
    parser.add_argument("--limit", type=int, help="stop after N faces per set (a quick try)")
    args = parser.parse_args(argv)
    if not args.hr_photos and not args.wider_images:
        parser.error("give --hr-photos, or --wider-images with --wider-annotations, or both")
    if bool(args.wider_images) != bool(args.wider_annotations):
        parser.error("--wider-images and --wider-annotations go together")
    return args


def report(what: str, summary: BuildSummary, folder: Path) -> None:
    """One line of counts, then each unreadable photo on stderr."""
    print(f"{what}: {summary.line()} -> {folder}")
    for failure in summary.failures:
        print(f"  skipped {failure}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.hr_photos:
            summary = build_hr_set(
                args.hr_photos,
                args.out / "faces_hr",
                hr_size=args.hr_size,
                crop_fraction=args.hr_crop_fraction,
                val_every=args.hr_val_every,
                limit=args.limit,
            )
            report("HR faces", summary, args.out / "faces_hr")
        if args.wider_images:
            summary = build_lr_set(
                args.wider_images,
                args.wider_annotations,
                args.out / "faces_lr_real",
                lr_size=args.lr_size,
                min_face=args.min_face,
                max_face=args.max_face,
                margin=args.margin,
                holdout_every=args.lr_holdout_every,
                limit=args.limit,
            )
            report("real LR faces", summary, args.out / "faces_lr_real")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
