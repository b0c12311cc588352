"""Building the HR and real-LR face sets from WIDER FACE-style and aligned-photo fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scgan_lightning.data.face_sets import (
    build_hr_set,
    build_lr_set,
    crop_padded,
    parse_wider_annotations,
)
from scgan_lightning.errors import UserError

ANNOTATIONS = """\
0--Parade/a.jpg
3
10 12 20 24 0 0 0 0 0 0
50 5 8 8 0 0 0 0 0 0
60 60 30 30 0 0 0 1 0 0
1--Handshaking/b.jpg
0
0 0 0 0 0 0 0 0 0 0
0--Parade/c.jpg
2
0 0 16 16 0 0 0 0 0 0
70 70 100 100 0 0 0 0 0 0
"""


def _wider(tmp_path):
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name in ("0--Parade/a.jpg", "1--Handshaking/b.jpg", "0--Parade/c.jpg"):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(images / name)
    annotations = tmp_path / "wider_face_train_bbx_gt.txt"
    annotations.write_text(ANNOTATIONS)
    return images, annotations


def test_wider_annotations_are_parsed_with_empty_photos_and_invalid_flags(tmp_path):
    _, annotations = _wider(tmp_path)
    boxes = parse_wider_annotations(annotations)
    assert [(b.image, b.x, b.y, b.width, b.height) for b in boxes] == [
        ("0--Parade/a.jpg", 10, 12, 20, 24),
        ("0--Parade/a.jpg", 50, 5, 8, 8),
        ("0--Parade/a.jpg", 60, 60, 30, 30),
        ("0--Parade/c.jpg", 0, 0, 16, 16),
        ("0--Parade/c.jpg", 70, 70, 100, 100),
    ]
    assert [b.invalid for b in boxes] == [False, False, True, False, False]


def test_lr_set_keeps_small_valid_faces_as_16px_squares_split_deterministically(tmp_path):
    images, annotations = _wider(tmp_path)
    out = tmp_path / "lr"
    summary = build_lr_set(images, annotations, out, min_face=10, max_face=36, holdout_every=2)
    # kept: a.jpg's 20x24 face and c.jpg's 16x16 face (8 px is too small, 30 px is invalid,
    # 100 px is too large)
    assert summary.written == {"train": 1, "heldout": 1}
    written = sorted(out.rglob("*.png"))
    assert [p.relative_to(out).as_posix() for p in written] == [
        "heldout/000001.png",
        "train/000000.png",
    ]
    assert all(Image.open(p).size == (16, 16) for p in written)


def test_a_face_at_the_photo_edge_is_padded_with_edge_pixels():
    photo = Image.fromarray(np.full((20, 20, 3), 7, dtype=np.uint8))
    crop = crop_padded(photo, (-5, -5, 10, 10))
    assert crop.size == (15, 15)
    assert np.all(np.asarray(crop) == 7)
    assert crop_padded(photo, (30, 30, 40, 40)) is None


def test_hr_set_is_square_resized_and_split(tmp_path):
    source = tmp_path / "aligned"
    source.mkdir()
    for i in range(5):
        Image.new("RGB", (178, 218), (i * 40, 0, 0)).save(source / f"{i:06d}.jpg")
    summary = build_hr_set(source, tmp_path / "hr", crop_fraction=0.7, val_every=5)
    assert summary.written == {"train": 4, "val": 1}
    assert Image.open(tmp_path / "hr" / "val" / "000004.png").size == (64, 64)


def test_missing_inputs_and_a_used_output_folder_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no such annotation file"):
        parse_wider_annotations(tmp_path / "missing.txt")
    images, annotations = _wider(tmp_path)
    build_lr_set(images, annotations, tmp_path / "lr")
    with pytest.raises(UserError, match="not empty"):
        build_lr_set(images, annotations, tmp_path / "lr")
    broken = tmp_path / "broken.txt"
    broken.write_text("0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n")
    with pytest.raises(UserError, match="file ends first"):
        parse_wider_annotations(broken)


SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "build_face_sets.py"


def test_the_command_builds_both_sets_and_reports_a_missing_folder_in_one_line(tmp_path):
    images, annotations = _wider(tmp_path)
    ok = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(tmp_path / "sets"),
            "--wider-images",
            str(images),
            "--wider-annotations",
            str(annotations),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "real LR faces: wrote 2 train, 0 heldout" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(tmp_path / "o"),
            "--hr-photos",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none'}: no such folder (the aligned HR face photos)"
    ]
