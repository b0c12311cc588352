"""Real-LR measures checked against ground truth: the descriptor realism distance and the
rank agreement of a measure with the truth it stands in for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scgan_lightning.data.controlled import build_controlled_set
from scgan_lightning.data.degradation import load_degradation
from scgan_lightning.evaluation.agreement import CHECKS, Check, rank_agreement, score_set
from scgan_lightning.evaluation.paired import bicubic
from scgan_lightning.filters import gaussian_lowpass
from scgan_lightning.imaging import list_images, read_face
from scgan_lightning.metrics.realism import DescriptorRealism

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def test_rank_agreement_is_signed_by_which_direction_is_better():
    rows = {"a": {"m": 1.0, "t": 10.0}, "b": {"m": 2.0, "t": 20.0}, "c": {"m": 3.0, "t": 30.0}}
    same = rank_agreement(rows, Check("m", "t", True, True))
    assert same["kendall"] == pytest.approx(1.0) and same["methods"] == 3
    # a distance (lower better) against a score (higher better) that rise together disagree
    assert rank_agreement(rows, Check("m", "t", False, True))["kendall"] == pytest.approx(-1.0)


def test_descriptor_realism_puts_blurred_faces_further_from_hr_faces_than_other_hr_faces():
    faces = torch.stack([read_face(p, 64) for p in list_images(DEMO / "hr_train")[:60]])
    realism = DescriptorRealism()  # dlib: the identity extra, installed with dev
    reference = realism.features(faces[:30].split(15))
    others = realism.features(faces[30:].split(15))
    blurred = realism.features(gaussian_lowpass(faces[30:], 2.5).split(15))
    assert realism.distances(reference, others)["fd"] < realism.distances(reference, blurred)["fd"]
    assert realism.distances(reference, reference)["fd"] == pytest.approx(0.0, abs=1e-6)


def test_score_set_gives_every_method_its_truths_and_measures(tmp_path):
    build_controlled_set(
        [DEMO / "hr_val"], tmp_path / "set", load_degradation("avgpool"), {}, val_count=8
    )
    reference = torch.stack([read_face(p, 64) for p in list_images(tmp_path / "set" / "hr")])

    def soft(lr):
        return gaussian_lowpass(bicubic(64)(lr), 2.0)

    rows = score_set(
        {"bicubic": bicubic(64), "soft": soft}, tmp_path / "set" / "val", reference, None, 4
    )
    assert set(rows) == {"bicubic", "soft"}
    measures = {c.measure for c in CHECKS if not c.measure.startswith("realism")}
    assert measures | {"psnr", "ssim", "sharpness_gap_paired"} <= set(rows["soft"])
    # a blurrier output is both less faithful and further from HR sharpness
    assert rows["soft"]["psnr"] < rows["bicubic"]["psnr"]
    assert rows["soft"]["sharpness_gap"] > rows["bicubic"]["sharpness_gap"]
