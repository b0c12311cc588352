"""``precision/channels_last/adam_impl=auto`` in training: ``SpeedTuning`` applies each
phase's settings on the run's own steps (the candidates in turn while they are timed, then the
choice), draws nothing from the random stream, keeps the configured number of steps, and reads
and fills the one cache. The choice itself is pinned in ``test_autotune.py``."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from scgan_lightning.autotune import Settings
from scgan_lightning.training import speed_tuning
from scgan_lightning.training.module import SCGANModule
from scgan_lightning.training.speed import apply_adam, apply_layout
from scgan_lightning.training.supervised import SupervisedRestorerModule
from tests.train_runs import TINY_WIDTH, fit_in_memory, random_batches, scgan_module, tiny_networks

FP32 = Settings("32", False, "default")
BF16_CL = Settings("bf16", True, "fused")


pytestmark = pytest.mark.usefixtures("timing_cache")  # timed choices never reach the user's cache


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: thread hand-offs cost more than they save on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _auto(module):
    module.use_auto_precision()
    return module


def _scgan(**options) -> SCGANModule:
    torch.manual_seed(0)
    options = {"channels_last": "auto", "adam_impl": "auto", "stages": {"pretrain": 2}, **options}
    return scgan_module(TINY_WIDTH, **options)


def _without_z(batches: list[dict]) -> list[dict]:
    return [{k: v for k, v in b.items() if k != "z"} for b in batches]


def test_an_unknown_setting_fails_at_construction():
    with pytest.raises(ValueError, match="adam_impl"):
        scgan_module(TINY_WIDTH, adam_impl="sgd")
    with pytest.raises(ValueError, match="channels_last"):
        SupervisedRestorerModule(10, tiny_networks()["net"], channels_last="sometimes")
    assert _scgan(channels_last=False, adam_impl="default").configure_callbacks() == []
    assert [type(c) for c in _scgan().configure_callbacks()] == [speed_tuning.SpeedTuning]


def _recording_steps(module: SCGANModule) -> list[tuple[str, bool, bool, object]]:
    """(phase, autocast on, restorer weights channels-last, generators' Adam fused) per step."""
    seen = []
    step = module._step

    def recorded(batch, opt_g, opt_d):
        seen.append(
            (
                module.phase,
                torch.is_autocast_enabled("cpu"),
                module.g_rls.head.weight.is_contiguous(memory_format=torch.channels_last),
                opt_g.optimizer.param_groups[0]["fused"],
            )
        )
        return step(batch, opt_g, opt_d)

    module._step = recorded
    return seen


def test_each_phase_runs_in_its_own_choice(monkeypatch):
    chosen = {"degrader-only": FP32, "semi-cycled": BF16_CL}
    asked = []

    def cached(key, options):
        phase = "degrader-only" if "degrader-only phase" in key else "semi-cycled"
        asked.append((phase, "batch 2" in key))
        return chosen[phase]

    monkeypatch.setattr(speed_tuning, "cached_choice", cached)
    module = _auto(_scgan())
    seen = _recording_steps(module)
    trainer = fit_in_memory(module, random_batches(4))
    assert asked == [("degrader-only", True), ("semi-cycled", True)]  # once per phase
    assert (
        seen
        == [("degrader-only", False, False, None)] * 2 + [("semi-cycled", True, True, True)] * 2
    )
    assert module.speed_settings == chosen
    assert trainer.global_step == 2 + 2 * 2


def test_timing_runs_on_the_runs_own_steps_and_draws_no_randomness():
    batches = _without_z(random_batches(4, seed=3))  # noise from the global random stream

    def run(module):
        noise, losses = [], []
        sample = module.sample_noise

        def recorded_noise(batch_size, device):
            noise.append(sample(batch_size, device))
            return noise[-1]

        class Record(pl.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                losses.append({k: float(v) for k, v in outputs.items()})

        module.sample_noise = recorded_noise
        torch.manual_seed(11)
        trainer = fit_in_memory(module, batches, callbacks=[Record()])
        return noise, losses, trainer.global_step

    plain = run(_scgan(channels_last=False, adam_impl="default"))
    tuned_module = _scgan()  # trainer precision: the candidates differ in layout and Adam only
    seen = _recording_steps(tuned_module)
    tuned = run(tuned_module)
    # Both candidates ran on the run's own steps: a warm-up each, in each phase.
    assert [s[2:] for s in seen] == [(False, None), (True, True), (False, None), (True, True)]
    assert tuned[2] == plain[2]
    for a, b in zip(plain[0], tuned[0], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(plain[1], tuned[1], strict=True):
        assert a.keys() == b.keys()
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_a_timed_choice_is_cached_and_then_used_from_the_first_step(timing_cache):
    def supervised():
        torch.manual_seed(0)
        return _auto(SupervisedRestorerModule(10, tiny_networks()["net"], channels_last="auto"))

    first = supervised()
    fit_in_memory(first, random_batches(10))
    assert set(first.speed_settings) == {"supervised"} and first.iteration == 10
    (entry,) = json.loads(timing_cache.read_text()).values()
    assert Settings(**entry["settings"]) == first.speed_settings["supervised"]
    assert "float32 NCHW default Adam" in entry["seconds"]

    second = supervised()
    applied = []
    apply = second.apply_speed
    second.apply_speed = lambda settings: (applied.append(settings), apply(settings))
    fit_in_memory(second, random_batches(3))
    assert applied == [first.speed_settings["supervised"]] * 3


def test_switching_layout_and_adam_keeps_the_optimiser_state():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3))
    reference = [p.detach().clone() for p in net.parameters()]
    twin = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3))
    twin.load_state_dict(net.state_dict())
    x = torch.randn(2, 3, 12, 12)

    def steps(model, optimizer, count, switch=False):
        for _ in range(count):
            if switch:
                apply_layout(model, [optimizer], True)
                apply_adam([optimizer], "fused")
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()

    plain, switched = torch.optim.Adam(net.parameters()), torch.optim.Adam(twin.parameters())
    steps(net, plain, 4)
    steps(twin, switched, 2)
    steps(twin, switched, 2, switch=True)
    assert twin[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert switched.state[twin[0].weight]["exp_avg"].is_contiguous(
        memory_format=torch.channels_last
    )
    for a, b, start in zip(net.parameters(), twin.parameters(), reference, strict=True):
        assert not torch.equal(a, start)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
