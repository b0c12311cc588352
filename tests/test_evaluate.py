"""Evaluation on real demo faces with a tiny restorer: tables, reports, CLI and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from rich.console import Console
from torch import nn

from scgan_lightning.checkpoints import save_restorer
from scgan_lightning.cli.evaluate import main
from scgan_lightning.data import FaceDataModule
from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.paired import evaluate_paired
from scgan_lightning.evaluation.tables import render_markdown, render_table, write_tables
from scgan_lightning.evaluation.unpaired import evaluate_unpaired
from scgan_lightning.imaging import (
    bicubic_upsample,
    center_square,
    list_images,
    quantize,
    read_rgb,
    resize,
    to_tensor,
)
from scgan_lightning.inference.models import BUNDLED_RESTORER
from scgan_lightning.inference.restorer import FaceRestorer
from scgan_lightning.metrics.fidelity import psnr_tensor, ssim_tensor
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec
from tests.train_runs import scgan_module

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"  # in the repository: no skips
HR_VAL = DEMO / "hr_val"
LR_REAL = DEMO / "lr_test"


def _six_faces(folder: Path, destination: Path) -> Path:
    destination.mkdir()
    for path in list_images(folder)[:6]:
        (destination / path.name).write_bytes(path.read_bytes())
    return destination


@pytest.fixture(scope="module")
def tiny_network() -> Restorer:
    torch.manual_seed(0)
    return Restorer(width=0.125).eval()


@pytest.fixture(scope="module")
def tiny_restorer(tiny_network) -> FaceRestorer:
    return FaceRestorer(tiny_network, batch_size=4)


class MeanAbsDistance(nn.Module):
    """A stand-in perceptual distance: mean |a - b| per image, shaped like LPIPS's output."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)


class TinyFeatures(nn.Module):
    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, self.num_features, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images.float() / 255).mean(dim=(2, 3))


def test_paired_scores_sr_and_bicubic_independently_of_batch_size(tmp_path, tiny_restorer) -> None:
    hr_dir = _six_faces(HR_VAL, tmp_path / "hr")
    result = evaluate_paired(
        tiny_restorer, hr_dir, batch_size=4, lpips_model=MeanAbsDistance(), crop_border=2
    )
    assert result["mode"] == "paired" and result["images"] == 6
    assert set(result["rows"]) == {"SR", "bicubic"}
    for row in result["rows"].values():
        assert set(row) == {"psnr", "ssim", "lpips"}
    bicubic = result["rows"]["bicubic"]
    # Bicubic of an avgpool x4 LR of a smooth face is a fair reconstruction; an untrained tiny
    # restorer is not.
    assert 18 < bicubic["psnr"] < 40 and 0.5 < bicubic["ssim"] < 1
    assert result["rows"]["SR"]["psnr"] < bicubic["psnr"]

    # The bicubic row is exactly the metrics of avgpool -> 8-bit -> bicubic up, image by image.
    hr = torch.stack(
        [to_tensor(resize(center_square(read_rgb(p)), 64)) for p in list_images(hr_dir)]
    )
    lr = quantize(torch.nn.functional.avg_pool2d(hr, 4)).float() / 127.5 - 1
    up = bicubic_upsample(lr, 64)
    assert bicubic["psnr"] == pytest.approx(psnr_tensor(up, hr, 2).mean().item())
    assert bicubic["ssim"] == pytest.approx(ssim_tensor(up, hr, 2).mean().item())

    again = evaluate_paired(
        tiny_restorer, hr_dir, batch_size=6, lpips_model=MeanAbsDistance(), crop_border=2
    )
    for name in ("SR", "bicubic"):
        assert again["rows"][name] == pytest.approx(result["rows"][name], rel=1e-9)


@pytest.mark.parametrize("degradation", ["avgpool", "blur_noise_jpeg"])
def test_validation_logs_what_evaluate_reports_for_the_same_model_and_faces(
    tmp_path, degradation
) -> None:
    hr_dir = _six_faces(HR_VAL, tmp_path / "hr")
    torch.manual_seed(0)
    module = scgan_module(0.125)
    faces = FaceDataModule(hr_dir, hr_dir, hr_dir, val_batch_size=4, val_degradation=degradation)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (logged,) = trainer.validate(module, datamodule=faces, verbose=False)
    result = evaluate_paired(
        FaceRestorer(module.inference_restorer), hr_dir, degradation=degradation, batch_size=3
    )
    for row, suffix in (("SR", ""), ("bicubic", "_bicubic")):
        for metric in ("psnr", "ssim"):
            reported = result["rows"][row][metric]
            assert logged[f"val/{metric}{suffix}"] == pytest.approx(reported, rel=1e-5)


def test_reports_hold_the_table(tmp_path, tiny_restorer) -> None:
    result = evaluate_paired(
        tiny_restorer, HR_VAL, max_images=3, degradation="blur_noise_jpeg", seed=7
    )
    assert result["images"] == 3
    json_path, md_path = write_tables(
        result, tmp_path / "evaluation", "metrics", render_markdown(result)
    )
    assert json.loads(json_path.read_text()) == result
    markdown = md_path.read_text()
    assert "| method | PSNR (dB) ↑ | SSIM ↑ |" in markdown
    assert f"| SR | {result['rows']['SR']['psnr']:.4f} |" in markdown
    assert f"| bicubic | {result['rows']['bicubic']['psnr']:.4f} |" in markdown
    assert "blur_noise_jpeg" in markdown

    console = Console(record=True, width=100)
    console.print(render_table(result))
    text = console.export_text()
    assert "SR" in text and "bicubic" in text and "PSNR" in text


def test_unpaired_scores_fid_and_kid(tmp_path, tiny_restorer) -> None:
    result = evaluate_unpaired(
        tiny_restorer,
        _six_faces(LR_REAL, tmp_path / "lr"),
        _six_faces(HR_VAL, tmp_path / "hr"),
        TinyFeatures(),
        batch_size=4,
        kid_subsets=3,
    )
    assert result["mode"] == "unpaired" and result["images"] == 6
    assert result["settings"]["kid_subset_size"] == 6
    for row in result["rows"].values():
        assert set(row) == {"fid", "kid_mean", "kid_std"}
        assert row["fid"] > 0
    assert "| method | FID ↓ | KID ↓ | KID std |" in render_markdown(result)


def test_bad_folders_and_settings_are_user_errors(tmp_path, tiny_restorer, tiny_network) -> None:
    with pytest.raises(UserError, match=r"nowhere: no such folder \(hr_dir\)"):
        evaluate_paired(tiny_restorer, tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"no images .* \(hr_dir\)"):
        evaluate_paired(tiny_restorer, tmp_path)
    with pytest.raises(UserError, match="unknown degradation 'blurry'"):
        evaluate_paired(tiny_restorer, tmp_path, degradation="blurry")
    with pytest.raises(UserError, match="hr_size=62 must be a positive multiple"):
        FaceRestorer(tiny_network, hr_size=62)
    with pytest.raises(UserError, match="crop_border=27 must be >= 0"):
        evaluate_paired(tiny_restorer, tmp_path, crop_border=27)


def _run_cli(monkeypatch, *args: str) -> int:
    """Run the Hydra entry point in this process (a subprocess would re-import torch)."""
    quiet = ("hydra/job_logging=disabled", "hydra/hydra_logging=disabled")
    monkeypatch.setattr(sys, "argv", ["scgan-evaluate", *args, *quiet])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code)
    return 0


def test_cli_writes_reports_and_reports_bad_input_in_one_line(
    tmp_path, tiny_network, monkeypatch, capsys
) -> None:
    ckpt = tmp_path / "restorer.pt"
    save_restorer(ckpt, tiny_network, restorer_spec(0.125), {}, ema=False)
    out = tmp_path / "evaluation"
    code = _run_cli(
        monkeypatch,
        f"ckpt_path={ckpt}",
        f"hr_dir={HR_VAL}",
        "max_images=2",
        "device=cpu",
        f"output_dir={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0
    assert (out / "metrics.json").is_file() and (out / "metrics.md").is_file()
    assert "bicubic" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["checkpoint"]["source"] == "restorer"

    missing = tmp_path / "missing"
    code = _run_cli(
        monkeypatch, f"ckpt_path={ckpt}", f"hr_dir={missing}", f"hydra.run.dir={tmp_path / 'r2'}"
    )
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {missing}: no such folder (hr_dir)"
    ]


def test_cli_defaults_to_the_bundled_restorer(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "evaluation"
    code = _run_cli(
        monkeypatch,
        f"hr_dir={HR_VAL}",
        "max_images=4",
        "device=cpu",
        f"output_dir={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, capsys.readouterr().err
    checkpoint = json.loads((out / "metrics.json").read_text())["checkpoint"]
    assert checkpoint["path"] == f"bundled {BUNDLED_RESTORER}" and checkpoint["ema"]


def test_cli_answers_an_unknown_key_with_the_closest_one(tmp_path, monkeypatch, capsys) -> None:
    assert _run_cli(monkeypatch, "hr_dri=faces/", f"hydra.run.dir={tmp_path}") == 2
    assert capsys.readouterr().err == (
        "error: unknown config key hr_dri (did you mean hr_dir?); "
        "see src/scgan_lightning/conf/evaluate.yaml\n"
    )
