"""Which crop of a detected tiny face gives the best restoration: the detector box or landmarks.

Each HR face of ``--faces`` (tight crops, like the restorer's training faces) is resized to
``4s`` px and set in the middle of a grey canvas three times its size. YuNet runs on that canvas
(a bare face on grey is rarely found at 16 px, so it runs at 4s and its box and landmarks are
scaled down 4x); the canvas is shrunk 4x (face of s px). Every crop rule below cuts the face
from the small canvas,
restores it through the model and pastes it into the 4x bicubic canvas; the score is PSNR over
the true face region against the HR canvas. ``true square`` crops exactly where the face was
put (the best any detector could do):

    python scripts/measure_face_crop.py --markdown docs/face_crop.md
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scgan_lightning.data.image_io import list_images, read_rgb, resize, to_tensor, to_uint8
from scgan_lightning.inference import geometry
from scgan_lightning.inference.detect import Box, Face, YuNet
from scgan_lightning.inference.engine import RestoreEngine
from scgan_lightning.inference.models import load_model, model_label

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces_hr" / "val"
Rule = Callable[[Face, int], Box]


def landmark_square(face: Face, k: float, side: int) -> Box:
    """Centred between the eyes' and the mouth's midpoints, ``k`` eye-to-mouth distances wide."""
    points = face.landmarks
    eyes, mouth = points[:2].mean(axis=0), points[3:5].mean(axis=0)
    centre = (eyes + mouth) / 2
    size = k * float(np.linalg.norm(mouth - eyes))
    return geometry.square_box(float(centre[0]), float(centre[1]), size, side, side)


def landmark_centre(face: Face, margin: float, side: int) -> Box:
    """Centred on the landmarks, as wide as the box rule with ``margin``."""
    points = face.landmarks
    centre = (points[:2].mean(axis=0) + points[3:5].mean(axis=0)) / 2
    size = face.box.side * (1 + 2 * margin)
    return geometry.square_box(float(centre[0]), float(centre[1]), size, side, side)


def rules(s: int) -> dict[str, Rule]:
    found: dict[str, Rule] = {"true square": lambda face, side: Box(s, s, s, s)}
    for margin in (-0.1, 0.0, 0.1, 0.2):
        found[f"box, margin {margin}"] = lambda f, side, m=margin: geometry.face_square(
            f, m, side, side
        )
        found[f"landmark centre, box side, margin {margin}"] = lambda f, side, m=margin: (
            landmark_centre(f, m, side)
        )
    for k in (2.2, 2.6, 3.0, 3.4):
        found[f"landmarks, {k} eye-mouth distances"] = lambda f, side, k=k: landmark_square(
            f, k, side
        )
    return found


def shrink(face: Face, factor: int) -> Face:
    """A detection at ``factor`` times the size, brought to the small canvas."""
    box = Box(*(round(v / factor) for v in face.box))
    return Face(box, face.score, face.landmarks / factor)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", type=int, default=16, help="face side s in the small canvas")
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    loaded = load_model(args.ckpt)
    engine = RestoreEngine(loaded.model, "cpu", batch_size=64, scale=loaded.scale)
    detector = YuNet(min_face=1)
    s, hr_side = args.size, 4 * args.size
    region = (slice(hr_side, 2 * hr_side), slice(hr_side, 2 * hr_side))
    scores: dict[str, list[float]] = {"bicubic (no restoration)": []}
    found = 0
    for path in list_images(args.faces)[: args.count]:
        face_hr = resize(read_rgb(path), hr_side)
        grey = tuple(int(v) for v in np.asarray(face_hr).reshape(-1, 3).mean(axis=0))
        canvas_hr = Image.new("RGB", (3 * hr_side, 3 * hr_side), grey)
        canvas_hr.paste(face_hr, (hr_side, hr_side))
        small = resize(canvas_hr, 3 * s)
        base = np.asarray(resize(small, canvas_hr.size))
        detections = [f for f in detector(np.asarray(canvas_hr)) if f.landmarks is not None]
        if not detections:
            continue
        found += 1
        face = shrink(max(detections, key=lambda f: f.score), 4)
        truth = np.asarray(canvas_hr)[region]
        scores["bicubic (no restoration)"].append(psnr(base[region], truth))
        named = {name: rule(face, 3 * s) for name, rule in rules(s).items()}
        lr = torch.stack([to_tensor(resize(geometry.crop(small, sq), 16)) for sq in named.values()])
        for (name, square), sr in zip(named.items(), engine.restore(lr), strict=True):
            canvas = base.copy()
            geometry.paste(canvas, to_uint8(sr), square, 4, 0.1)
            scores.setdefault(name, []).append(psnr(canvas[region], truth))
    lines = [
        f"{found} of {min(args.count, len(list_images(args.faces)))} faces found by YuNet at "
        f"{hr_side} px, restored at {s} px; model {model_label(args.ckpt)}; "
        f"load {os.getloadavg()[0]:.1f}",
        "",
        "| crop rule | PSNR over the face region, dB |",
        "|---|---:|",
        *(f"| {name} | {np.mean(values):.2f} |" for name, values in scores.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
