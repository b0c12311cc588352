"""``precision/channels_last/adam_impl=auto`` in training: candidates, the 5% rule, the early
give-up of the probe (on a fake clock), per-phase choices applied when their phase runs, the
cache, and a probe that leaves the run exactly as it would have been."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from scgan_lightning.training import probe, restorer_base
from scgan_lightning.training import speed as speed_module
from scgan_lightning.training.module import SCGANModule
from scgan_lightning.training.probe import Trial, time_candidates
from scgan_lightning.training.speed import (
    Requested,
    TrainSettings,
    apply_adam,
    apply_layout,
    candidates,
    decide,
)
from scgan_lightning.training.supervised import SupervisedRestorerModule
from tests.train_runs import TINY_WIDTH, fit_in_memory, random_batches

FP32 = TrainSettings("32", False, "default")
FP32_CL = TrainSettings("32", True, "fused")
BF16_CL = TrainSettings("bf16", True, "fused")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCGAN_CACHE_DIR", str(tmp_path))
    return tmp_path / "run_settings.json"


def _auto(module):
    module.use_auto_precision()
    return module


def _scgan(**options) -> SCGANModule:
    torch.manual_seed(0)
    options = {"channels_last": "auto", "adam_impl": "auto", "pretrain_iterations": 2, **options}
    return SCGANModule(width=TINY_WIDTH, **options)


def _without_z(batches: list[dict]) -> list[dict]:
    return [{k: v for k, v in b.items() if k != "z"} for b in batches]


def test_the_cpu_candidates_are_the_three_presets_reference_first():
    assert candidates(Requested("auto", "auto", "auto")) == [FP32, FP32_CL, BF16_CL]
    fixed = candidates(Requested("trainer", "auto", "default"))
    assert fixed == [TrainSettings("trainer", False), TrainSettings("trainer", True)]
    assert candidates(Requested("trainer", True, "fused")) == [
        TrainSettings("trainer", True, "fused")
    ]
    assert candidates(Requested("auto", False, "default")) == [
        FP32,
        TrainSettings("bf16", False, "default"),
    ]
    with pytest.raises(ValueError, match="channels_last"):
        Requested("auto", "sometimes", "default")
    with pytest.raises(ValueError, match="adam_impl"):
        SCGANModule(width=TINY_WIDTH, adam_impl="sgd")


def test_the_fastest_is_kept_only_if_five_percent_faster_than_the_reference():
    def trials(*seconds):
        return [Trial(s, t, 0.0) for s, t in zip((FP32, FP32_CL, BF16_CL), seconds, strict=False)]

    assert decide(trials(1.0, 0.97, 0.98)) == FP32  # 3% is noise, not a gain
    assert decide(trials(1.0, 0.94, 0.98)) == FP32_CL
    assert decide(trials(1.0, 0.9, 0.5)) == BF16_CL
    assert decide(trials(1.0, math.inf, math.inf)) == FP32  # given up: never chosen


class _Tick(nn.Module):
    """A module whose every call advances the fake clock by ``cost`` seconds."""

    def __init__(self, clock: list[float], cost: float) -> None:
        super().__init__()
        self.clock, self.cost = clock, cost

    def forward(self) -> None:
        self.clock[0] += self.cost


def test_a_clearly_slower_candidate_is_abandoned_mid_step(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(probe.time, "perf_counter", lambda: clock[0])
    costs = {"ref": 0.01, "close": 0.0098, "slow": 0.08}  # per call; 10 calls a step
    calls = {name: 0 for name in costs}

    def build(name):
        tick = _Tick(clock, costs[name])
        net = nn.Sequential(tick)

        def step():
            for _ in range(10):
                calls[name] += 1
                tick()

        return net, step

    trials = {t.settings: t for t in time_candidates(list(costs), build, torch.device("cpu"))}
    assert trials["ref"].seconds == pytest.approx(0.1)
    assert trials["close"].seconds == pytest.approx(0.098)
    assert trials["slow"].gave_up
    # The slow first step (0.8 s in full) stopped at 3x the reference's first step.
    assert calls["slow"] <= 5 and trials["slow"].spent <= 0.3 + 0.08 + 1e-9
    assert calls["ref"] == calls["close"] == 30  # first step and two timed ones


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


def test_each_phase_runs_in_its_own_choice(monkeypatch, _cache):
    chosen = {"degrader-only": FP32, "semi-cycled": BF16_CL}
    asked = []

    def fake_choose(requested, device, module, batch_size, phase, build):
        asked.append((phase, batch_size))
        return chosen[phase]

    monkeypatch.setattr(restorer_base, "choose", fake_choose)
    module = _auto(_scgan())
    seen = _recording_steps(module)
    trainer = fit_in_memory(module, random_batches(4))
    assert asked == [("degrader-only", 2), ("semi-cycled", 2)]  # once per phase
    assert (
        seen
        == [("degrader-only", False, False, None)] * 2 + [("semi-cycled", True, True, True)] * 2
    )
    assert trainer.global_step == 2 + 2 * 2  # the probe's steps are not the run's


def test_probing_leaves_the_run_as_it_would_have_been(monkeypatch, _cache):
    batches = _without_z(random_batches(4, seed=3))  # noise from the global random stream

    def losses(module):
        recorded = []

        class Record(__import__("pytorch_lightning").Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                recorded.append({k: float(v) for k, v in outputs.items()})

        torch.manual_seed(11)
        fit_in_memory(module, batches, callbacks=[Record()])
        return recorded

    plain = losses(_scgan(channels_last=False, adam_impl="default"))
    monkeypatch.setattr(speed_module, "decide", lambda trials: trials[0].settings)
    probed_module = _auto(_scgan())
    probed = losses(probed_module)
    assert probed_module.speed_settings == {"degrader-only": FP32, "semi-cycled": FP32}
    assert probed == plain
    cache = json.loads(_cache.read_text())
    assert sorted(k.rsplit(" | ", 2)[1] for k in cache) == [
        "phase degrader-only",
        "phase semi-cycled",
    ]
    for entry in cache.values():
        assert entry["settings"] == {
            "precision": "32",
            "channels_last": False,
            "adam_impl": "default",
        }
        assert entry["probe_s"] > 0 and "float32 NCHW default Adam" in entry["seconds"]


def test_a_cached_choice_is_not_timed_again(monkeypatch, _cache):
    fit_in_memory(_auto(_scgan()), random_batches(3))
    monkeypatch.setattr(speed_module, "time_candidates", lambda *a: pytest.fail("timed again"))
    second = _auto(_scgan())
    fit_in_memory(second, random_batches(3))
    assert set(second.speed_settings) == {"degrader-only", "semi-cycled"}


def test_the_supervised_baselines_choose_too(_cache):
    torch.manual_seed(0)
    module = _auto(SupervisedRestorerModule(width=TINY_WIDTH, iterations=3, channels_last="auto"))
    fit_in_memory(module, random_batches(3))
    assert set(module.speed_settings) == {"supervised"}
    assert module.iteration == 3


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
