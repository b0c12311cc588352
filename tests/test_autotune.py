"""The one autotuner: the candidates a request allows, the one decision rule, the plan that
times real units of work (warm-up, alternating rounds, giving up on clear losers), and the
cache. Timings are injected: what is pinned is the choice made from them, not a speed."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scgan_lightning.autotune import MARGIN, Requested, Settings, Tuner, cache_path, decide
from scgan_lightning.autotune.cache import cached_choice, cpu_identity, store_choice

CPU = torch.device("cpu")
FP32 = Settings("32", False, "default")
FP32_CL = Settings("32", True, "fused")
BF16_CL = Settings("bf16", True, "fused")


pytestmark = pytest.mark.usefixtures("timing_cache")  # timed choices never reach the user's cache


def test_training_and_restoring_draw_from_one_set_of_candidates():
    assert Requested("auto", "auto", "auto").candidates(CPU) == [FP32, FP32_CL, BF16_CL]
    assert Requested("trainer", "auto", "default").candidates(CPU) == [
        Settings("trainer", False, "default"),
        Settings("trainer", True, "default"),
    ]
    assert Requested("auto", False, "default").candidates(CPU) == [
        FP32,
        Settings("bf16", False, "default"),
    ]
    assert Requested("trainer", True, "fused").candidates(CPU) == [
        Settings("trainer", True, "fused")
    ]
    # Restoring: nothing trains, so no Adam; the same layouts and precisions otherwise.
    assert Requested("auto", "auto").candidates(CPU) == [
        Settings("32", False),
        Settings("32", True),
        Settings("bf16", True),
    ]
    assert Requested("bf16", False).candidates(CPU) == [Settings("bf16", False)]
    # `precision=32` on a Hydra command line or in YAML arrives as an int.
    assert Requested(32, False).candidates(CPU) == [Settings("32", False)]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels_last"):
        Requested("auto", "sometimes")
    with pytest.raises(ValueError, match="adam_impl"):
        Requested("trainer", False, "sgd")
    with pytest.raises(ValueError, match="precision"):
        Requested("16")


def test_one_rule_a_candidate_must_beat_the_reference_by_the_margin():
    assert MARGIN == 0.9
    assert decide({FP32: 1.0, FP32_CL: 0.92, BF16_CL: 0.95}, FP32) == FP32  # 8%: not enough
    assert decide({FP32: 1.0, FP32_CL: 0.89, BF16_CL: 0.95}, FP32) == FP32_CL
    assert decide({FP32: 1.0, FP32_CL: 0.8, BF16_CL: 0.4}, FP32) == BF16_CL
    assert decide({FP32: 1.0, FP32_CL: math.inf, BF16_CL: math.inf}, FP32) == FP32  # given up


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.001, 10), min_size=3, max_size=3))
def test_the_choice_is_never_slower_than_the_reference(times):
    seconds = dict(zip((FP32, FP32_CL, BF16_CL), times, strict=True))
    choice = decide(seconds, FP32)
    assert choice == FP32 or seconds[choice] <= MARGIN * seconds[FP32]
    assert seconds[choice] <= seconds[FP32]


def _run(tuner: Tuner, cost: dict[Settings, float], units: int, size: int = 4) -> list[Settings]:
    """``units`` units of work, each costing ``cost`` of the setting it ran under."""
    ran = []
    for _ in range(units):
        settings = tuner.current()
        ran.append(settings)
        tuner.record(cost[settings], size)
    return ran


def _tuner(options=(FP32, FP32_CL, BF16_CL), unit_size: int = 4) -> Tuner:
    return Tuner(list(options), "key", "test work", "step", unit_size)


def test_every_candidate_warms_up_then_is_timed_in_alternating_rounds(timing_cache, caplog):
    tuner = _tuner()
    cost = {FP32: 1.0, FP32_CL: 0.8, BF16_CL: 0.6}
    with caplog.at_level("INFO"):
        ran = _run(tuner, cost, 12)
    plan = [FP32, FP32_CL, BF16_CL] * 2 + [BF16_CL, FP32_CL, FP32]
    assert ran == plan + [BF16_CL] * 3  # then the choice, for good
    assert tuner.choice == BF16_CL
    entry = json.loads(timing_cache.read_text())["key"]
    assert entry["settings"] == {"precision": "bf16", "channels_last": True, "adam_impl": "fused"}
    assert entry["seconds"]["float32 NCHW default Adam"] == 1.0
    assert "speed, test work: bf16 channels-last fused Adam" in caplog.text
    assert "(1.67x)" in caplog.text


def test_a_clearly_slower_candidate_costs_one_unit_of_its_own():
    # bf16 on a CPU without fast bf16 kernels: 8x slower; its warm-up alone gives it away.
    cost = {FP32: 1.0, FP32_CL: 0.97, BF16_CL: 8.0}
    tuner = _tuner()
    ran = _run(tuner, cost, 7)
    assert ran.count(BF16_CL) == 1
    assert tuner.choice == FP32  # 3% faster is within the noise: the reference stays
    assert "bf16 channels-last fused Adam given up after a 8.00 s step" in tuner.summary()
    # A candidate that warms up fine but then runs clearly slower is dropped after one timed unit.
    timed = iter([1.0, 1.0, 1.0, 2.0, 1.0])
    tuner = _tuner(options=(FP32, FP32_CL))
    ran = []
    while tuner.choice is None:
        ran.append(tuner.current())
        tuner.record(next(timed), 4)
    assert ran == [FP32, FP32_CL, FP32, FP32_CL, FP32]
    assert tuner.choice == FP32


def test_units_of_another_size_run_untimed_and_an_unfinished_plan_caches_nothing(timing_cache):
    tuner = _tuner()
    assert _run(tuner, {FP32: 1.0, FP32_CL: 1.0, BF16_CL: 1.0}, 3, size=3) == [FP32] * 3
    _run(tuner, {FP32: 1.0, FP32_CL: 1.0, BF16_CL: 1.0}, 4)
    assert tuner.choice is None and not timing_cache.exists()


def test_a_cached_choice_is_used_from_the_first_unit(timing_cache, caplog):
    options = [FP32, FP32_CL, BF16_CL]
    store_choice("key", FP32_CL, {"float32 NCHW default Adam": 1.0})
    with caplog.at_level("INFO"):
        tuner = Tuner.from_cache(options, "key", "test work", "step", 4)
    assert tuner.choice == FP32_CL
    assert _run(tuner, {s: 1.0 for s in options}, 3) == [FP32_CL] * 3
    assert f"cached in {cache_path()}" in caplog.text
    # A choice outside the candidates asked for, or a damaged file, is timed again.
    assert cached_choice("key", [FP32, BF16_CL]) is None
    timing_cache.write_text("{not json")
    assert Tuner.from_cache(options, "key", "test work", "step", 4).choice is None


def test_a_single_candidate_is_used_without_timing_or_cache(timing_cache):
    tuner = Tuner.from_cache([FP32], "key", "test work", "step", 4)
    assert _run(tuner, {FP32: 1.0}, 2) == [FP32, FP32]
    assert not timing_cache.exists()


def _cpuinfo(flags: str) -> str:
    block = (
        "processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
        "model name\t: Intel(R) Xeon(R) Processor\nstepping\t: 8\nflags\t\t: {flags}\n"
    )
    return "\n".join(block.format(n=n, flags=flags) for n in range(2))


def test_two_cpus_a_virtual_machine_names_alike_get_their_own_cache_entries():
    """One without AMX, one with: a choice timed on one must not be read on the other."""
    plain, amx = _cpuinfo("fpu sse avx512f"), _cpuinfo("fpu sse avx512f amx_bf16 amx_tile")
    assert cpu_identity(plain) != cpu_identity(amx)
    assert cpu_identity(plain) == cpu_identity(_cpuinfo("fpu sse avx512f"))
    assert cpu_identity(amx).startswith("Intel(R) Xeon(R) Processor (family 6 model 143")
