"""The side-by-side report: real-LR metrics, the table and the grid, on the repo's demo faces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from scgan_lightning.checkpoints import save_restorer
from scgan_lightning.evaluation.report import build_report
from scgan_lightning.evaluation.tables import report_markdown
from scgan_lightning.inference.restorer import FaceRestorer
from scgan_lightning.metrics.real_lr import (
    consistency_psnr,
    gradient_energy,
    lowfreq_consistency_psnr,
)
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def test_consistency_is_high_for_an_output_that_pools_back_to_its_input():
    lr = torch.rand(4, 3, 16, 16) * 2 - 1
    exact = F.interpolate(lr, scale_factor=4, mode="nearest")  # avgpool gives lr back
    assert consistency_psnr(exact, lr, 4).min() > 50
    shifted = (exact + 0.2).clamp(-1, 1)
    assert consistency_psnr(shifted, lr, 4).max() < 25


def test_lowfreq_consistency_forgives_fine_detail_but_not_a_tone_shift():
    torch.manual_seed(0)
    lr = torch.rand(4, 3, 16, 16) - 0.5
    exact = F.interpolate(lr, scale_factor=4, mode="nearest")
    # detail at the LR Nyquist rate, as sharpening adds: pooling keeps it, the low band not
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 0.4 - 0.2
    detailed = exact + F.interpolate(checker[None, None].expand(4, 3, 16, 16), scale_factor=4)
    assert consistency_psnr(detailed, lr, 4).max() < 25
    assert lowfreq_consistency_psnr(detailed, lr, 4).min() > 35
    brighter = exact + 0.2
    assert lowfreq_consistency_psnr(brighter, lr, 4).max() < 25


def test_gradient_energy_grows_with_edges():
    flat = torch.zeros(1, 3, 64, 64)
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[..., ::2] = 1.0
    assert gradient_energy(flat).item() == 0.0
    assert gradient_energy(stripes).item() > 100


def _tiny_restorer() -> FaceRestorer:
    torch.manual_seed(0)
    return FaceRestorer(Restorer(width=0.0625), batch_size=8)


def test_report_scores_bicubic_and_each_model_and_draws_their_grid():
    report, grids = build_report(
        {"tiny": _tiny_restorer()},
        DEMO / "hr_val",
        DEMO / "lr_test",
        max_images=8,
        max_lr_images=6,
        grid_faces=4,
    )
    assert list(report["rows"]) == ["bicubic", "tiny"]
    for row in report["rows"].values():
        assert {"avgpool/psnr", "blur_noise_jpeg/ssim", "consistency", "sharpness"} <= set(row)
    # bicubic upsampling pools back to nearly its input; bicubic is softer than real HR faces
    assert report["rows"]["bicubic"]["consistency"] > 35
    assert 0.1 < report["rows"]["bicubic"]["sharpness"] < 1.0
    assert list(grids) == ["real_lr"]
    # LR | bicubic | tiny, four faces under a header, 2-pixel white gaps around each face
    assert grids["real_lr"].size == (2 + 3 * 66, 12 + 2 + 4 * 66)
    table = report_markdown(report)
    assert table.count("\n| ") == 3 and "real LR: consistency (dB)" in table


def test_real_lr_faces_alone_get_the_consistencies_and_a_reference_adds_the_rest():
    alone, grids = build_report({"tiny": _tiny_restorer()}, None, DEMO / "lr_test", max_lr_images=6)
    for row in alone["rows"].values():
        assert set(row) == {"consistency", "lowfreq_consistency"}
    assert list(grids) == ["real_lr"] and alone["settings"]["degradations"] == []
    assert report_markdown(alone).startswith("real LR: 6 faces")
    referenced, _ = build_report(
        {"tiny": _tiny_restorer()},
        None,
        DEMO / "lr_test",
        ref_hr_dir=DEMO / "hr_val",
        max_images=8,
        max_lr_images=6,
    )
    assert {"consistency", "lowfreq_consistency", "sharpness"} == set(referenced["rows"]["bicubic"])
    assert referenced["settings"]["ref_hr_images"] == 8


def test_the_command_writes_table_json_and_grid(tmp_path):
    checkpoint = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    save_restorer(
        checkpoint, Restorer(width=0.0625), restorer_spec(0.0625), {"scale": 4}, ema=False
    )
    out = tmp_path / "report"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scgan_lightning.report",
            f"models={{tiny: {checkpoint}}}",
            f"hr_dir={DEMO / 'hr_val'}",
            f"lr_dir={DEMO / 'lr_test'}",
            "max_images=4",
            "max_lr_images=4",
            "grid_faces=2",
            f"output_dir={out}",
            f"paths.log_dir={tmp_path}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads((out / "report.json").read_text())
    assert report["models"] == {"tiny": str(checkpoint)}
    assert (out / "report.md").read_text().startswith("HR: 4 faces")
    assert (out / "grid_real_lr.png").is_file()


def test_the_command_without_models_fails_in_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scgan_lightning.report",
            f"hr_dir={DEMO / 'hr_val'}",
            f"lr_dir={DEMO / 'lr_test'}",
            f"paths.log_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: models is empty")


def _pairs(tmp_path: Path) -> Path:
    """val/hr + val/lr of a controlled set built from the demo's validation faces."""
    from scgan_lightning.data.controlled import build_controlled_set
    from scgan_lightning.data.degradation import load_degradation

    build_controlled_set(
        [DEMO / "hr_val"],
        tmp_path / "set",
        load_degradation("blur_noise_jpeg"),
        {"degradation": "blur_noise_jpeg"},
        val_count=6,
    )
    return tmp_path / "set" / "val"


def test_pairs_add_the_benchmark_columns_the_gap_and_their_grid(tmp_path):
    torch.manual_seed(1)
    other = FaceRestorer(Restorer(width=0.0625), batch_size=8)
    report, grids = build_report(
        {"naive": _tiny_restorer(), "oracle": other, "scgan": _tiny_restorer()},
        None,
        None,
        pairs_dir=_pairs(tmp_path),
        grid_faces=3,
        identity=lambda sr, hr: (sr - hr).abs().mean(dim=(1, 2, 3)),
    )
    rows = report["rows"]
    assert {"pairs/psnr", "pairs/ssim", "pairs/identity", "pairs/gap_closed"} <= set(rows["scgan"])
    naive, oracle = rows["naive"]["pairs/psnr"], rows["oracle"]["pairs/psnr"]
    if oracle > naive:  # two random networks: either may score higher
        assert rows["naive"]["pairs/gap_closed"] == 0 and rows["oracle"]["pairs/gap_closed"] == 1
        assert rows["scgan"]["pairs/gap_closed"] == 0  # the same weights as naive
    # LR | bicubic | naive | oracle | scgan | HR, three faces under a header, 2-pixel gaps
    assert grids["pairs"].size == (2 + 6 * 66, 12 + 2 + 3 * 66)
    table = report_markdown(report)
    assert "gap closed" in table and "pairs: identity distance" in table
