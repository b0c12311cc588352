"""The training progress bar names an unlimited run by its iteration budget, not "Epoch 8/-2"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scgan_lightning.training.progress import ProgressBar
from tests.train_runs import scgan_module


@pytest.mark.parametrize(
    ("max_epochs", "expected"),
    [(-1, "Epoch 1 of a 1,100-iteration run"), (3, "Epoch 1/2")],
)
def test_the_bar_names_the_epoch_with_the_budget_when_epochs_are_unlimited(
    max_epochs: int, expected: str
):
    bar = ProgressBar()
    module = scgan_module(0.125, stages={"pretrain": 300, "semi_cycled": 800})
    bar._trainer = SimpleNamespace(max_epochs=max_epochs, lightning_module=module)  # as fit sets
    assert bar._get_train_description(1).strip() == expected
