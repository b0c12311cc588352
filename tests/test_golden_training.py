"""Two SCGAN training steps through the Lightning Trainer against the released loop."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch

from scgan_lightning.released import import_released
from scgan_lightning.training.module import SCGANModule
from tests.golden_weights import GOLDEN, golden, released_state_dict
from tests.train_runs import fit_in_memory

KIND_OF = {
    "g_dhl": "degrader",
    "g_rls": "restorer",
    "g_dsl": "degrader",
    "d_l1": "discriminator_16",
    "d_l2": "discriminator_16",
    "d_h1": "discriminator_64",
    "d_h2": "discriminator_64",
}
RELEASED_NAME = {
    "g_dhl": "G_DHL",
    "g_rls": "G_RLS",
    "g_dsl": "G_DSL",
    "d_l1": "D_L1",
    "d_l2": "D_L2",
    "d_h1": "D_H1",
    "d_h2": "D_H2",
}


class _RecordLosses(pl.Callback):
    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.steps.append({k: float(v) for k, v in outputs.items()})


def _golden_module(**overrides) -> SCGANModule:
    expected = json.loads((GOLDEN / "train_steps_expected.json").read_text())
    module = SCGANModule(**overrides)
    for name, kind in KIND_OF.items():
        salt = expected["weight_salts"][RELEASED_NAME[name]]
        network = import_released(kind, released_state_dict(kind, salt), rgb=False)
        getattr(module, name).load_state_dict(network.state_dict())
    return module


def _fit_two_steps(module: SCGANModule) -> _RecordLosses:
    batches = golden("train_steps_inputs.pt")["batches"]
    recorder = _RecordLosses()
    fit_in_memory(module, batches, callbacks=[recorder])
    return recorder


def _update_norms(before: dict[str, torch.Tensor], module: SCGANModule) -> dict[str, float]:
    norms = {}
    for name in KIND_OF:
        squared = sum(
            (p.detach() - before[f"{name}.{key}"]).pow(2).sum().item()
            for key, p in getattr(module, name).named_parameters()
        )
        norms[RELEASED_NAME[name]] = squared**0.5
    return norms


@pytest.fixture(scope="module")
def released_run():
    torch.manual_seed(0)
    module = _golden_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    recorder = _fit_two_steps(module)
    return recorder.steps, _update_norms(before, module), module


def test_two_steps_losses_match_released(released_run):
    steps, _, _ = released_run
    expected = json.loads((GOLDEN / "train_steps_expected.json").read_text())["losses_per_step"]
    assert len(steps) == 2
    for got, want in zip(steps, expected, strict=True):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=3e-3), key


def test_two_steps_update_norms_match_released(released_run):
    _, norms, _ = released_run
    want = json.loads((GOLDEN / "train_steps_expected.json").read_text())[
        "trainable_param_update_l2_norm_after_2_steps"
    ]
    for key, value in want.items():
        assert norms[key] == pytest.approx(value, rel=2e-3), key


def test_iteration_counter_counts_batches_not_optimizer_steps(released_run):
    _, _, module = released_run
    assert module.iteration == 2
    assert module.trainer.global_step == 4  # two optimisers step per batch
