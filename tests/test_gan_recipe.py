"""The knobs of the tuned GAN recipe: warm start, per-side adversarial weights, D learning rate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.errors import CheckpointError
from scgan_lightning.training.losses import LossWeights
from tests.train_runs import fit_in_memory, random_batches, scgan_module

WIDTH = 0.125


def _restorer_file(tmp_path, width: float = WIDTH) -> tuple[str, dict[str, torch.Tensor]]:
    torch.manual_seed(7)
    source = scgan_module(width)
    path = tmp_path / "restorer.pt"
    save_restorer(path, source.g_rls, source.hparams.net, {"scale": 4}, ema=False)
    return str(path), source.g_rls.state_dict()


def test_init_from_a_restorer_file_sets_the_restorer_and_its_ema(tmp_path):
    path, expected = _restorer_file(tmp_path)
    module = scgan_module(WIDTH, ema={"decay": 0.99}, init_from=path)
    for network in (module.g_rls, module.ema_rls):
        for key, value in network.state_dict().items():
            assert torch.equal(value, expected[key]), key


def test_init_from_a_training_checkpoint_sets_every_network(tmp_path):
    torch.manual_seed(3)
    trained = scgan_module(WIDTH)
    fit_in_memory(trained, random_batches(1))
    ckpt = tmp_path / "run.ckpt"
    torch.save({"state_dict": trained.state_dict(), "hyper_parameters": {"width": WIDTH}}, ckpt)
    module = scgan_module(WIDTH, init_from=str(ckpt))
    for key, value in trained.state_dict().items():
        assert torch.equal(value, module.state_dict()[key]), key
    assert module.iteration == 0  # a warm start, not a resume


def test_init_from_a_restorer_of_another_width_names_the_mismatch(tmp_path):
    path, _ = _restorer_file(tmp_path, width=0.25)
    with pytest.raises(CheckpointError, match=r"model\.net=\{.*'width': 0\.125\}"):
        scgan_module(WIDTH, init_from=path)


def test_init_from_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        scgan_module(WIDTH, init_from=str(tmp_path / "nope.pt"))


def test_per_side_adversarial_weights_fall_back_to_the_released_beta():
    released = LossWeights()
    assert released.for_degraders().beta == released.for_restorer().beta == 0.05
    tuned = LossWeights(beta_degrader=0.02, beta_restorer=0.0)
    assert tuned.for_degraders().beta == 0.02
    assert tuned.for_restorer().beta == 0.0


def test_zero_restorer_adversarial_weight_leaves_its_loss_pure_l1():
    torch.manual_seed(0)
    module = scgan_module(WIDTH, loss={"beta_restorer": 0.0}).train()
    batch = random_batches(1)[0]
    out = module.generator_outputs(batch["hr"], batch["lr"], batch["z"])
    losses = module.generator_losses(batch["hr"], batch["lr"], out)
    l1 = torch.nn.functional.l1_loss
    expected = l1(out.hr_gen, batch["hr"]) + 0.05 * l1(out.ups, out.hr_gen_r)
    assert torch.allclose(losses["G_RLS"], expected)
    assert not torch.allclose(losses["G_DHL"], losses["G_DHL_l1"])  # degrader keeps beta


def test_discriminators_get_their_own_learning_rate():
    module = scgan_module(WIDTH, optimiser={"lr": 1e-4, "lr_d": 4e-4})
    (opt_g, opt_d), _ = module.configure_optimizers()
    assert {g["lr"] for g in opt_g.param_groups} == {1e-4}
    assert {g["lr"] for g in opt_d.param_groups} == {4e-4}


def test_pretraining_without_the_restorer_trains_the_degrader_alone():
    torch.manual_seed(0)
    module = scgan_module(WIDTH, stages={"pretrain": 2, "pretrain_restorer": False})
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fit_in_memory(module, random_batches(2))
    changed = {
        k.split(".")[0] for k, v in module.state_dict().items() if not torch.equal(v, before[k])
    }
    assert changed == {"g_dhl"}


GPU_RECIPE = Path(__file__).resolve().parents[1] / "tools" / "gpu_train_recipe.py"


@pytest.mark.slow
def test_gpu_recipe_script_copies_restorers_and_metrics_while_it_trains(tmp_path):
    subprocess.run(
        [sys.executable, str(GPU_RECIPE), "--smoke", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    restorers = sorted((tmp_path / "restorers").glob("restorer_*.pt"))
    assert restorers, "no restorer was exported during the run"
    assert load_restorer(restorers[-1]).model.head.weight.shape[0] == 16
    assert (tmp_path / "metrics.csv").is_file()
    assert "val/psnr" in (tmp_path / "progress.txt").read_text()


def test_normalised_spectrum_ignores_contrast_but_not_blur():
    from scgan_lightning.filters import gaussian_lowpass
    from scgan_lightning.training.losses import power_spectrum, spectrum_distance

    torch.manual_seed(0)
    faces = torch.rand(8, 3, 16, 16) * 2 - 1
    reference = power_spectrum(faces)
    flatter = faces * 0.5  # half the contrast: a content difference, not a degradation
    blurred = gaussian_lowpass(faces, 1.0)
    assert spectrum_distance(flatter, reference) > 1.0
    assert spectrum_distance(flatter, reference, normalize=True) < 1e-3
    assert spectrum_distance(blurred, reference, normalize=True) > 0.5
