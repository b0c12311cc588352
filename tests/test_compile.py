"""``model.compile``: the compiled generators' losses track eager's over 20 steps; the
discriminators (released spectral norm) stay eager; state-dict keys do not change."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from scgan_lightning.training.module import DISCRIMINATORS, GENERATORS, SCGANModule
from tests.train_runs import TINY_WIDTH, fit_in_memory, random_batches, scgan_module

STEPS = 20
# float32 kernels of another order of summation: per-step deviations of ~1e-6 relative, grown
# by 20 adversarial updates; 1e-3 of a loss's mean magnitude is far below any real change.
TOLERANCE = 1e-3


class _Losses(pl.Callback):
    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.steps.append({k: float(v) for k, v in outputs.items()})


def _run(compile: bool | str) -> tuple[list[dict[str, float]], SCGANModule]:
    torch.manual_seed(0)
    module = scgan_module(TINY_WIDTH, compile=compile, stages={"pretrain": 2})
    recorder = _Losses()
    fit_in_memory(module, random_batches(STEPS, seed=5), callbacks=[recorder])
    return recorder.steps, module


def test_unknown_compile_mode_is_refused():
    with pytest.raises(ValueError, match=r"model\.compile"):
        scgan_module(TINY_WIDTH, compile="fastest")


@pytest.mark.slow  # inductor compiles the generators' C++ kernels: minutes on a 2-core CPU
def test_compiled_generators_track_eager_over_20_steps():
    eager, eager_module = _run(False)
    compiled, module = _run("default")
    assert all(getattr(module, n)._compiled_call_impl is not None for n in GENERATORS)
    assert all(getattr(module, n)._compiled_call_impl is None for n in DISCRIMINATORS)
    assert module.state_dict().keys() == eager_module.state_dict().keys()
    assert len(compiled) == len(eager) == STEPS
    assert [step.keys() for step in compiled] == [step.keys() for step in eager]
    for key in set().union(*eager):  # the degrader-only steps log other losses
        pairs = [(c[key], e[key]) for c, e in zip(compiled, eager, strict=True) if key in e]
        scale = sum(abs(e) for _, e in pairs) / len(pairs)
        worst = max(abs(c - e) for c, e in pairs)
        assert worst <= TOLERANCE * max(scale, 1e-3), (key, worst, scale)
