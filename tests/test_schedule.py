"""The learning-rate schedule of both training modules: a cosine whose rate moves once every
``schedule.every`` iterations, counted from the run's start across epochs (the released code
moves it once an epoch)."""

from __future__ import annotations

import math

import pytest

from scgan_lightning.errors import UserError
from scgan_lightning.training.recipe import Schedule
from scgan_lightning.training.supervised import SupervisedRestorerModule
from tests.train_runs import fit_in_memory, random_batches, scgan_module, tiny_networks

LR, ETA_MIN = 1e-3, 1e-5


def _module(kind: str, schedule: dict):
    if kind == "scgan":
        return scgan_module(
            0.125,
            optimiser={"lr": LR},
            schedule=schedule,
            stages={"pretrain": 1, "semi_cycled": 5},
        )
    return SupervisedRestorerModule(
        6, tiny_networks()["net"], optimiser={"lr": LR}, schedule=schedule
    )


def _cosine(moves: int, half_period: int) -> float:
    return ETA_MIN + (LR - ETA_MIN) * (1 + math.cos(math.pi * moves / half_period)) / 2


@pytest.mark.parametrize("kind", ["scgan", "supervised"])
def test_the_rate_moves_every_n_iterations_counted_across_epochs(kind: str):
    """Two epochs of 3 batches with every=2: the rate moves after iterations 2, 4 and 6 (an
    epoch-local count would move it after 2 and 5 only, twice)."""
    module = _module(kind, {"t_max": 8, "eta_min": ETA_MIN, "every": 2})
    trainer = fit_in_memory(module, random_batches(3), max_epochs=2)
    assert module.iteration == 6
    for optimizer in trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(_cosine(3, 4))


@pytest.mark.parametrize("kind", ["scgan", "supervised"])
def test_every_one_is_a_smooth_cosine_down_to_eta_min_at_the_budgets_end(kind: str):
    module = _module(kind, {"t_max": None, "eta_min": ETA_MIN, "every": 1})
    trainer = fit_in_memory(module, random_batches(6))
    for optimizer in trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(ETA_MIN)


def test_a_budget_not_a_whole_number_of_moves_is_rounded_up():
    assert Schedule(t_max=None, every=4).steps(budget=10) == 3


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (Schedule(t_max=10, every=4), r"t_max \(10\) must be a multiple of .*every \(4\)"),
        (Schedule(every=0), r"every must be at least 1"),
        (Schedule(t_max=None), r"give the cosine's length"),
    ],
)
def test_a_schedule_that_cannot_be_run_is_named(schedule: Schedule, message: str):
    with pytest.raises(UserError, match=message):
        schedule.steps(budget=None)
