"""Build the small demo set in ``data/demo`` from the shared real face data.

    python tools/build_demo_data.py --source ../shared/data [--out data/demo] [--seed 2020]

Picks faces at random (deterministic given ``--seed``) so a CPU demo and the docs have real
unpaired data: HR training faces, real LR training faces, HR validation faces, real LR test
faces disjoint from the training ones, and one crowd photo. ``SOURCES.tsv`` maps every demo file
to the file it came from.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from scgan_lightning.imaging import center_square, list_images, read_rgb, resize, save_png

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HR_SIZE, LR_SIZE = 64, 16
MIN_HR_SIDE = 48
COUNTS = {"hr_train": 600, "lr_train": 600, "hr_val": 64, "lr_test": 32}
# A 490 px wide class photo with about 60 small faces: small enough to keep, hard enough to show.
DEFAULT_PHOTO = "8.jpg"

README = """# Demo data

A small real-face set for the CPU demo, the docs and smoke tests; built by

    {command}

| folder | files | what |
|---|---|---|
| `hr_train/` | {hr_train} | HR faces, {hr}x{hr} PNG (CelebA train split) |
| `lr_train/` | {lr_train} | real low-resolution faces, {lr}x{lr} PNG (WIDER FACE tiny faces) |
| `hr_val/` | {hr_val} | HR validation faces, {hr}x{hr} PNG (CelebA validation split) |
| `lr_test/` | {lr_test} | real LR test faces, {lr}x{lr} PNG, disjoint from `lr_train/` |
| `photo.jpg` | 1 | a class photo with many small faces (original bytes of `photos/{photo}`) |

HR faces are square source faces of at least {min_side} px, centre-cropped and resized with
antialiased bicubic. `SOURCES.tsv` names the source file of every demo file (paths relative
to the `--source` folder).

## Sources and terms (research use only)
- HR faces: CelebA, as committed in the GitHub repository
  `Karimashraf01/Face-Mask-Detection-using-MobilenetV2` @1aeb6dd
  (`Face Mask Dataset/Train|Validation/WithoutMask`). CelebA is available for non-commercial
  research purposes only.
- LR faces: tiny faces detected in WIDER FACE photos, from the GitHub repository
  `a7med12345/Face_super-resolution` @12d70a9 (`images/results/first_method/N_real_LR.png`), resized
  to 16x16 with Lanczos. WIDER FACE: research use only.
- Photo: GitHub repository `Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB` @dffdddd (`imgs/`).
  Research use only.

Do not use these images for commercial purposes or redistribute them outside research use.
"""


def square_enough(path: Path) -> bool:
    """Read the header only: keep square faces of at least MIN_HR_SIDE pixels."""
    with Image.open(path) as image:
        width, height = image.size
    return width == height and width >= MIN_HR_SIDE


def pick(files: list[Path], count: int, rng: np.random.Generator) -> list[Path]:
    if len(files) < count:
        raise SystemExit(f"need {count} files, found only {len(files)}")
    return [files[i] for i in sorted(rng.choice(len(files), size=count, replace=False))]


def write_faces(files: list[Path], folder: Path, size: int, crop: bool) -> list[Path]:
    folder.mkdir(parents=True)
    written = []
    for number, path in enumerate(files):
        image = read_rgb(path)
        target = folder / f"{number:04d}.png"
        save_png(resize(center_square(image) if crop else image, size), target)
        written.append(target)
    return written


def build(source: Path, out: Path, seed: int, photo: str, command: str) -> None:
    rng = np.random.default_rng(seed)
    hr_train = pick(
        [p for p in list_images(source / "faces_hr/train") if square_enough(p)],
        COUNTS["hr_train"],
        rng,
    )
    hr_val = pick(
        [p for p in list_images(source / "faces_hr/val") if square_enough(p)], COUNTS["hr_val"], rng
    )
    lr_all = pick(
        list_images(source / "faces_lr_real"), COUNTS["lr_train"] + COUNTS["lr_test"], rng
    )
    order = rng.permutation(len(lr_all))
    lr_train = [lr_all[i] for i in sorted(order[: COUNTS["lr_train"]])]
    lr_test = [lr_all[i] for i in sorted(order[COUNTS["lr_train"] :])]

    if out.exists():
        shutil.rmtree(out)
    pairs: list[tuple[Path, Path]] = []
    for name, files, size, crop in (
        ("hr_train", hr_train, HR_SIZE, True),
        ("hr_val", hr_val, HR_SIZE, True),
        ("lr_train", lr_train, LR_SIZE, False),
        ("lr_test", lr_test, LR_SIZE, False),
    ):
        pairs += zip(write_faces(files, out / name, size, crop), files, strict=True)
    shutil.copyfile(source / "photos" / photo, out / "photo.jpg")
    pairs.append((out / "photo.jpg", source / "photos" / photo))

    rows = [
        f"{d.relative_to(out).as_posix()}\t{s.relative_to(source).as_posix()}" for d, s in pairs
    ]
    (out / "SOURCES.tsv").write_text("demo_file\tsource_file\n" + "\n".join(rows) + "\n")
    (out / "README.md").write_text(
        README.format(
            command=command, hr=HR_SIZE, lr=LR_SIZE, min_side=MIN_HR_SIDE, photo=photo, **COUNTS
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        required=True,
        help="face data folder with faces_hr/, faces_lr_real/, photos/ (e.g. ../shared/data)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/demo"),
        help="output folder, replaced if present (relative to the project root)",
    )
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--photo", default=DEFAULT_PHOTO, help="file name under SOURCE/photos")
    args = parser.parse_args()
    source = (PROJECT_ROOT / args.source).resolve()
    out = (PROJECT_ROOT / args.out).resolve()
    command = (
        f"python tools/build_demo_data.py --source {args.source.as_posix()} "
        f"--out {args.out.as_posix()} --seed {args.seed} --photo {args.photo}"
    )
    build(source, out, args.seed, args.photo, command)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
