"""SCGANModule behaviour beyond golden parity: options, EMA, non-finite guard, counters."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from scgan_lightning.errors import UserError
from scgan_lightning.training.ema import make_ema_copy, update_ema
from scgan_lightning.training.module import DISCRIMINATORS, GENERATORS, SCGANModule
from scgan_lightning.training.step_guard import NonFiniteLossError
from tests.train_runs import fit_in_memory, random_batches, scgan_module

WIDTH = 0.125


def _fit(module: SCGANModule, batches: list[dict], **options) -> pl.Trainer:
    return fit_in_memory(module, batches, **options)


def _generator_grads(paper: bool) -> dict[str, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    module = scgan_module(WIDTH, backward_cycle_trains_restorer=paper).train()
    batch = random_batches(1)[0]
    out = module.generator_outputs(batch["hr"], batch["lr"], batch["z"])
    with module.discriminators_frozen():
        losses = module.generator_losses(batch["hr"], batch["lr"], out)
        (losses["G_DHL"] + losses["G_RLS"] + losses["G_DSL"]).backward()
    assert all(p.grad is None for n in DISCRIMINATORS for p in getattr(module, n).parameters())
    grads = {
        name: {k: p.grad.clone() for k, p in getattr(module, name).named_parameters()}
        for name in ("g_dhl", "g_rls", "g_dsl")
    }
    grads["losses"] = {k: v.detach() for k, v in losses.items()}
    return grads


def test_paper_option_adds_only_the_backward_cycle_gradient_to_the_restorer():
    released, paper = _generator_grads(False), _generator_grads(True)
    for key, value in released["losses"].items():
        assert torch.equal(value, paper["losses"][key]), key
    for name in ("g_dhl", "g_dsl"):
        for key, grad in released[name].items():
            assert torch.equal(grad, paper[name][key]), (name, key)
    assert any(not torch.allclose(g, paper["g_rls"][k]) for k, g in released["g_rls"].items())


def test_iteration_counts_batches_and_is_checkpointed():
    module = scgan_module(WIDTH)
    trainer = _fit(module, random_batches(3))
    assert module.iteration == 3
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    restored = scgan_module(WIDTH)
    restored.on_load_checkpoint(checkpoint)
    assert restored.iteration == 3
    assert trainer.global_step == 6


def test_ema_update_is_the_exponential_average():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = make_ema_copy(net)
    start = [p.clone() for p in ema.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(3.0)
    update_ema(ema, net, decay=0.75)
    for e, s, p in zip(ema.parameters(), start, net.parameters(), strict=True):
        assert torch.allclose(e, 0.75 * s + 0.25 * p)
    assert torch.equal(ema[1].running_mean, net[1].running_mean)


def test_ema_restorer_is_used_for_inference_when_enabled():
    module = scgan_module(WIDTH, ema={"decay": 0.9})
    _fit(module, random_batches(2))
    assert module.inference_restorer is module.ema_rls
    differs = any(
        not torch.equal(a, b)
        for a, b in zip(module.ema_rls.parameters(), module.g_rls.parameters(), strict=True)
    )
    assert differs


def test_without_ema_the_trained_restorer_is_used_for_inference():
    module = scgan_module(WIDTH)
    assert module.ema_rls is None
    assert module.inference_restorer is module.g_rls


def _unchanged(before: dict[str, torch.Tensor], module: SCGANModule) -> bool:
    after = module.state_dict()
    return all(torch.equal(v, after[k]) for k, v in before.items())


def _weights(module: SCGANModule) -> dict[str, torch.Tensor]:
    """Everything but the spectral-norm vectors (the power iteration runs in every forward)."""
    return {k: v.clone() for k, v in module.state_dict().items() if "sn.weight_" not in k}


def test_non_finite_steps_are_skipped_then_stop_the_run_at_the_next_check():
    module = scgan_module(WIDTH, max_nonfinite_steps=3, ema={"decay": 0.9})
    before = _weights(module)
    with pytest.raises(NonFiniteLossError, match="3 training steps in a row"):
        _fit(module, random_batches(5, poison=True), log_every_n_steps=1)
    assert module.guard.skipped_total == 3
    assert _unchanged(before, module), "a poisoned step updated"


def test_counters_are_read_only_at_logging_steps_and_at_the_end_of_an_epoch():
    """With log_every_n_steps=50 nothing is read during 5 steps; the epoch end stops the run."""
    module = scgan_module(WIDTH, max_nonfinite_steps=3)
    before = _weights(module)
    with pytest.raises(NonFiniteLossError, match="5 training steps in a row"):
        _fit(module, random_batches(5, poison=True), log_every_n_steps=50)
    assert module.guard.skipped_total == 5 and module.iteration == 5
    assert _unchanged(before, module), "a poisoned step updated"


def test_a_skipped_first_step_leaves_the_optimiser_as_if_it_had_not_run():
    """Adam's moments are created by its first step; a skipped one must leave them at zero, so
    the next finite step updates exactly as a first step would."""
    torch.manual_seed(0)
    skipped_first = scgan_module(WIDTH, stages={"pretrain": 2})
    reference = scgan_module(WIDTH, stages={"pretrain": 2})
    reference.load_state_dict(skipped_first.state_dict())
    good = random_batches(1, seed=3)
    _fit(skipped_first, [random_batches(1, poison=True)[0], *good], log_every_n_steps=1)
    _fit(reference, good)
    assert skipped_first.guard.skipped_total == 1
    for key, value in reference.state_dict().items():
        assert torch.equal(value, skipped_first.state_dict()[key]), key


def test_a_single_non_finite_step_is_skipped_and_training_goes_on():
    module = scgan_module(WIDTH, max_nonfinite_steps=3)
    batches = random_batches(3)
    batches[1] = random_batches(1, seed=5, poison=True)[0]
    _fit(module, batches)
    assert module.guard.skipped_total == 1
    assert module.guard.skipped_in_a_row == 0
    assert module.iteration == 3


def test_unknown_adam_implementation_is_refused():
    with pytest.raises(ValueError, match="adam_impl"):
        scgan_module(WIDTH, adam_impl="sgd").configure_optimizers()


def test_content_warmup_zeroes_only_the_adversarial_generator_terms():
    torch.manual_seed(0)
    module = scgan_module(WIDTH, stages={"content_warmup": 1}).train()
    batch = random_batches(1)[0]
    out = module.generator_outputs(batch["hr"], batch["lr"], batch["z"])
    warm = module.generator_losses(batch["hr"], batch["lr"], out)
    module.iteration = 1
    full = module.generator_losses(batch["hr"], batch["lr"], out)
    hr_down = torch.nn.functional.avg_pool2d(batch["hr"], 4)
    expected = torch.nn.functional.l1_loss(out.lr_gen, hr_down)
    assert torch.allclose(warm["G_DHL"], expected)
    assert not torch.allclose(full["G_DHL"], expected)


def _changed_networks(module: SCGANModule, before: dict[str, torch.Tensor]) -> set[str]:
    return {
        name
        for name in GENERATORS + DISCRIMINATORS
        for key, value in getattr(module, name).state_dict().items()
        if not torch.equal(value, before[f"{name}.{key}"])
    }


def _state(module: SCGANModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_pretrain_phase_trains_the_forward_generators_on_their_l1_targets_only():
    torch.manual_seed(0)
    module = scgan_module(WIDTH, stages={"pretrain": 2, "content_warmup": 2})
    before = _state(module)
    _fit(module, random_batches(2))
    assert _changed_networks(module, before) == {"g_dhl", "g_rls"}
    assert module.iteration == 2

    after_pretraining = _state(module)
    _fit(module, random_batches(1, seed=1))  # then the semi-cycled step trains all seven
    assert _changed_networks(module, after_pretraining) == set(GENERATORS + DISCRIMINATORS)
    assert module.iteration == 3


def _restorer_losses(**loss) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    module = scgan_module(WIDTH, loss=loss).train()
    batch = random_batches(1)[0]
    out = module.generator_outputs(batch["hr"], batch["lr"], batch["z"])
    with module.discriminators_frozen():
        return module.generator_losses(batch["hr"], batch["lr"], out)


def test_clean_anchor_adds_the_avgpool_restoration_to_the_restorer_objective_only():
    plain, anchored = _restorer_losses(), _restorer_losses(clean_anchor=0.5)
    assert "G_RLS_clean" not in plain and anchored["G_RLS_clean"] > 0
    expected = plain["G_RLS"] + 0.5 * anchored["G_RLS_clean"]
    assert torch.allclose(anchored["G_RLS"], expected, atol=1e-6)
    for key in ("G_DHL", "G_DSL"):
        assert torch.equal(plain[key], anchored[key])


def test_lowpass_real_term_holds_the_shrunk_restoration_to_its_input_on_the_low_band():
    from torch.nn.functional import avg_pool2d, interpolate, l1_loss

    from scgan_lightning.filters import gaussian_lowpass

    plain, lowpass = _restorer_losses(), _restorer_losses(real_lowpass_sigma=1.0)
    torch.manual_seed(0)
    module = scgan_module(WIDTH).train()  # the same weights as in both runs above
    lr = random_batches(1)[0]["lr"]
    restored = module.g_rls(lr)
    full = l1_loss(interpolate(lr, size=64, mode="bicubic", align_corners=True), restored)
    low = l1_loss(gaussian_lowpass(lr, 1.0), gaussian_lowpass(avg_pool2d(restored, 4), 1.0))
    # only the content part changes; the D_H2 part of the term stays as it was
    assert torch.allclose(plain["G_RLS_real"] - full, lowpass["G_RLS_real"] - low, atol=1e-6)
    assert torch.equal(plain["G_RLS_forward"], lowpass["G_RLS_forward"])


def test_the_module_stops_at_the_end_of_its_budget_and_validates_what_it_ends_with():
    """Every budget is iterations: 2 pre-training and 3 semi-cycled, whatever the epochs."""
    module = scgan_module(WIDTH, stages={"pretrain": 2, "semi_cycled": 3})
    validations = []

    class CountValidations(pl.Callback):
        def on_validation_end(self, trainer, pl_module) -> None:
            validations.append(pl_module.iteration)

    trainer = _fit(
        module,
        random_batches(4),
        max_epochs=10,
        callbacks=[CountValidations()],
        val_batches=random_batches(1, seed=1),
        val_check_interval=100,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
    )
    assert module.iteration == 5
    assert trainer.global_step == 2 + 2 * 3  # Lightning's count: one or two optimiser steps
    assert validations == [5]


def test_a_run_resumed_at_the_end_of_its_budget_trains_no_further():
    module = scgan_module(WIDTH, stages={"pretrain": 0, "semi_cycled": 2})
    module.iteration = 2
    before = _weights(module)
    _fit(module, random_batches(2), max_epochs=3)
    assert module.iteration == 2 and _unchanged(before, module)


def test_an_unknown_setting_of_a_group_names_the_closest_one():
    with pytest.raises(UserError, match=r"model\.stages\.pretrian is not a setting.*pretrain\?"):
        scgan_module(WIDTH, stages={"pretrian": 3})
