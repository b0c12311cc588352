"""What G_DHL learned, read off a checkpoint: the statistics and the three-band view."""

from __future__ import annotations

import torch

from scgan_lightning.data.controlled import build_controlled_set
from scgan_lightning.data.degradation import load_degradation
from scgan_lightning.evaluation.degrader_view import (
    colourfulness,
    degrader_view,
    load_degrader,
    noise_level,
)
from tests.train_runs import make_face_folders, scgan_module


def test_noise_level_reads_the_sigma_of_added_noise_on_a_flat_image():
    flat = torch.zeros(4, 3, 32, 32)
    noisy = flat + torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * (
        8.0 / 127.5
    )
    assert noise_level(flat).abs().max() < 0.5
    assert torch.allclose(noise_level(noisy), torch.full((4,), 8.0), rtol=0.15)


def test_colourfulness_is_zero_for_grey_and_grows_with_chroma():
    grey = torch.zeros(1, 3, 8, 8)
    red = torch.tensor([0.6, -0.2, -0.2]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert float(colourfulness(grey)) < 1.0 and float(colourfulness(red)) > 30.0


EXPLICIT = {
    "_target_": "scgan_lightning.nets.ExplicitDegrader",
    "width": 0.0625,
    "noise_dim": 64,
    "image_size": 64,
    "residual": True,
}


def test_degrader_view_puts_a_checkpoints_g_dhl_beside_the_true_chain(tmp_path):
    folders = make_face_folders(tmp_path / "faces", n_hr=10, n_lr=0, n_val=0)
    build_controlled_set(
        [str(folders["hr"])],
        tmp_path / "set",
        load_degradation("blur_noise_jpeg"),
        {"degradation": "blur_noise_jpeg"},
        val_count=4,
    )
    module = scgan_module(0.0625, degrader=EXPLICIT)
    checkpoint = tmp_path / "run.ckpt"
    torch.save(
        {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, checkpoint
    )
    stats, stack = degrader_view(load_degrader(checkpoint), tmp_path / "set" / "val", faces=4)
    again, _ = degrader_view(load_degrader(checkpoint), tmp_path / "set" / "val", faces=4)
    assert again == stats  # G_DHL's own draws are seeded too
    assert set(stats) == {"avgpool(HR)", "true degradation", "G_DHL(HR)"}
    assert stack.shape == (3, 4, 3, 16, 16)
    # The true band is the set's own LR files, not a recomputation of avgpool.
    assert not torch.allclose(stack[1], stack[0], atol=0.05)
    assert all(0.0 <= value < 255.0 for band in stats.values() for value in band.values())


def test_a_checkpoint_that_names_widths_instead_of_specs_gives_its_degrader(tmp_path):
    module = scgan_module(0.0625, degrader=EXPLICIT)
    widths = {"width": 0.25, "degrader_width": 0.0625, "hr_size": 64, "scale": 4, "noise_dim": 64}
    hparams = {**widths, "degrader": {"kind": "explicit", "residual": True, "lr": 0.01}}
    checkpoint = tmp_path / "run.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams}, checkpoint)
    degrader = load_degrader(checkpoint)
    for key, value in module.g_dhl.state_dict().items():
        assert torch.equal(degrader.state_dict()[key], value), key
