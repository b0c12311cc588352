"""The benchmark's headline arithmetic and the identity distance."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageFilter

from scgan_lightning.evaluation.benchmark import add_gap_closed, gap_closed
from scgan_lightning.imaging import read_face, to_tensor
from scgan_lightning.metrics.identity import IdentityDistance

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def test_gap_closed_is_zero_at_naive_one_at_oracle_and_linear_between():
    assert gap_closed(20.0, 20.0, 22.0) == 0.0
    assert gap_closed(22.0, 20.0, 22.0) == 1.0
    assert gap_closed(21.5, 20.0, 22.0) == pytest.approx(0.75)
    assert gap_closed(19.0, 20.0, 22.0) == pytest.approx(-0.5)  # worse than naive: negative
    assert math.isnan(gap_closed(21.0, 22.0, 22.0))  # no gap to close


def test_add_gap_closed_fills_every_row_from_the_named_baselines():
    rows = {
        "bicubic": {"pairs/psnr": 19.0},
        "naive": {"pairs/psnr": 20.0},
        "oracle": {"pairs/psnr": 24.0},
        "scgan": {"pairs/psnr": 23.0},
    }
    add_gap_closed(rows, "naive", "oracle")
    assert rows["scgan"]["pairs/gap_closed"] == pytest.approx(0.75)
    assert rows["bicubic"]["pairs/gap_closed"] == pytest.approx(-0.25)


def test_identity_distance_separates_people_and_tolerates_a_resize():
    identity = IdentityDistance()  # the identity extra: CI installs it with dev
    files = sorted((DEMO / "hr_val").glob("*.png"))[:6]
    faces = torch.stack([read_face(f, 64) for f in files])
    same = identity(faces, faces)
    assert float(same.max()) < 1e-6
    blurred = torch.stack(
        [
            to_tensor(
                Image.open(f).convert("RGB").resize((64, 64)).filter(ImageFilter.GaussianBlur(2))
            )
            for f in files
        ]
    )
    others = identity(faces, faces.roll(1, 0))
    blur = identity(faces, blurred)
    assert float(others.mean()) > 0.6  # dlib's same-person threshold
    assert float(blur.mean()) < float(others.mean())
