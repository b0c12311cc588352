"""Time photo mode end to end on a ~2-megapixel crowd photo, and its peak memory.

The photo is ``../shared/data/photos/17.jpg`` (1600x898, a stadium crowd) enlarged by
``--zoom`` (bicubic; default 1.22: 1952x1096, 2.1 MP) and saved as JPEG, so it is a photo the
restorer was never trained on. Each run is a fresh ``python -m scgan_lightning.predict
mode=photo`` process with default options (import, model load, detection, restoration,
writing the 4x PNG all included); peak RSS is that process's. ``--figure`` also writes a
before/after crop (4x bicubic | restored) of the busiest region:

    python scripts/time_photo.py --runs 2 --figure docs/inference/photo_before_after.png
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from scgan_lightning.data.image_io import read_rgb
from scgan_lightning.inference.photo_mode import upscale

DEFAULT_PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "17.jpg"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--zoom", type=float, default=1.22, help="enlarge the photo first")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--figure", type=Path, help="write a before/after crop here")
    parser.add_argument(
        "--crop",
        type=int,
        nargs=4,
        metavar=("X", "Y", "W", "H"),
        help="figure region in photo pixels (default: 240x140 around most faces)",
    )
    parser.add_argument("overrides", nargs="*", help="extra predict overrides (key=value)")
    return parser.parse_args()


def make_photo(source: Path, zoom: float, folder: Path) -> Path:
    """The photo enlarged by ``zoom`` as a quality-95 JPEG; at zoom 1 its own bytes."""
    if zoom == 1:
        return Path(shutil.copy(source, folder / f"crowd{source.suffix}"))
    image = read_rgb(source)
    size = (round(image.width * zoom), round(image.height * zoom))
    path = folder / "crowd.jpg"
    image.resize(size, Image.Resampling.BICUBIC).save(path, quality=95)
    return path


def run_once(photo: Path, output: Path, overrides: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) and the summary line of one predict process."""
    command = [
        sys.executable,
        "-m",
        "scgan_lightning.predict",
        "mode=photo",
        "progress=false",
        f"input={photo}",
        f"output={output}",
        *overrides,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"predict failed ({result.returncode}): {result.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("note: peak RSS not above an earlier run's; the figure is a lower bound")
    return seconds, max(peak, before) / 1024, result.stdout.strip().splitlines()[-1]


def busiest_region(restored: np.ndarray, background: np.ndarray, w: int, h: int) -> tuple:
    """The w x h window (4x pixels) where restoration changed the most pixels."""
    changed = np.any(restored != background, axis=2).astype(np.float32)
    step = 32
    best, where = -1.0, (0, 0)
    for y in range(0, changed.shape[0] - h, step):
        row = changed[y : y + h]
        for x in range(0, changed.shape[1] - w, step):
            score = float(row[:, x : x + w].mean())
            if score > best:
                best, where = score, (x, y)
    return where


def write_figure(photo: Path, result: Path, target: Path, crop: list[int] | None) -> None:
    image = read_rgb(photo)
    background = upscale(image, 4)
    restored = np.asarray(Image.open(result).convert("RGB"))
    if crop:
        x, y, w, h = (4 * v for v in crop)
    else:
        w, h = 4 * 240, 4 * 140
        x, y = busiest_region(restored, background, w, h)
    panels = [background[y : y + h, x : x + w], restored[y : y + h, x : x + w]]
    gap = np.full((h, 8, 3), 255, np.uint8)
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.hstack([panels[0], gap, panels[1]])).save(target, optimize=True)
    print(
        f"figure {target}: region x={x // 4} y={y // 4} w={w // 4} h={h // 4} (photo px), "
        f"{target.stat().st_size / 1e6:.2f} MB"
    )


def main() -> None:
    args = parse_args()
    if not args.photo.is_file():
        raise SystemExit(f"error: {args.photo}: no such photo (pass --photo)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = make_photo(args.photo, args.zoom, work)
        size = Image.open(photo).size
        print(
            f"photo {args.photo.name} x{args.zoom} -> {size[0]}x{size[1]} "
            f"({size[0] * size[1] / 1e6:.2f} MP); {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, load before {os.getloadavg()[0]:.2f}"
        )
        for run in range(args.runs):
            output = work / f"out{run}"
            seconds, peak, line = run_once(photo, output, args.overrides)
            print(
                f"run {run + 1}: {seconds:.1f} s end to end, peak RSS {peak:.0f} MiB, "
                f"load {os.getloadavg()[0]:.2f}; {line}"
            )
        if args.figure:
            write_figure(photo, output / f"{photo.stem}.png", args.figure, args.crop)


if __name__ == "__main__":
    main()
