"""Networks by config: specs build the networks they name, restorer.pt records its network's
spec, and every restorer file in the repository, written before specs existed, still loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.errors import CheckpointError, UserError
from scgan_lightning.nets import Restorer, TinyRestorer
from scgan_lightning.networks import build_network, restorer_spec
from tests.train_runs import PROJECT_ROOT

TINY = {"_target_": "scgan_lightning.nets.TinyRestorer", "channels": 8, "scale": 4}
COMMITTED = sorted(
    [
        *(PROJECT_ROOT / "src" / "scgan_lightning" / "assets").glob("*.pt"),
        *(PROJECT_ROOT / "checkpoints").rglob("*.pt"),
    ]
)


def test_a_spec_builds_its_network_with_the_callers_context():
    critic = build_network(
        {"_target_": "scgan_lightning.nets.Discriminator", "width": 0.0625}, image_size=16
    )
    assert critic.image_size == 16
    assert isinstance(build_network(TINY), TinyRestorer)


@pytest.mark.parametrize(
    "spec, problem",
    [
        ({"width": 1.0}, "needs a _target_"),
        ({"_target_": "os.system"}, "names no torch.nn.Module class"),
        ({"_target_": "scgan_lightning.nets.NoSuchNet"}, "names no torch.nn.Module class"),
        ({"_target_": "scgan_lightning.nets.Restorer", "depth": 3}, "does not take"),
        (
            {"_target_": "scgan_lightning.nets.Restorer", "width": {"_target_": "os.getcwd"}},
            "plain values",
        ),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_problem(spec, problem):
    with pytest.raises(UserError, match=problem) as err:
        build_network(spec, "model.net")
    assert str(err.value).startswith("model.net: ") and "\n" not in str(err.value)


def test_restorer_pt_names_its_network_and_loads_as_it_was_saved(tmp_path):
    torch.manual_seed(0)
    network = build_network(TINY).eval()
    path = tmp_path / "restorer.pt"
    save_restorer(path, network, TINY, {"hr_size": 64, "scale": 4}, ema=False)
    assert torch.load(path, weights_only=True)["net"] == TINY
    loaded = load_restorer(path)
    assert isinstance(loaded.model, TinyRestorer) and loaded.net == TINY
    lr = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.model(lr), network(lr))


def test_a_file_whose_spec_does_not_fit_its_weights_is_one_line(tmp_path):
    path = tmp_path / "restorer.pt"
    save_restorer(path, Restorer(0.0625), {**TINY}, {"scale": 4}, ema=False)
    with pytest.raises(CheckpointError, match="restorer keys do not fit"):
        load_restorer(path)


def test_a_file_that_names_no_network_holds_the_released_one_at_its_weights_width(tmp_path):
    path = tmp_path / "restorer.pt"
    torch.save({"state_dict": Restorer(0.0625).state_dict(), "config": {"scale": 4}}, path)
    assert load_restorer(path).net == restorer_spec(0.0625)


def test_a_file_that_names_no_network_and_holds_another_is_refused(tmp_path):
    path = tmp_path / "restorer.pt"
    state = build_network(TINY).state_dict()
    torch.save({"state_dict": state, "config": {"scale": 4}}, path)
    with pytest.raises(CheckpointError, match="names no restorer network"):
        load_restorer(path)


def test_the_repository_holds_restorer_files_to_check():
    assert len(COMMITTED) >= 5


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_committed_restorer_file_loads_as_the_released_architecture(path: Path):
    loaded = load_restorer(path)
    width = torch.load(path, weights_only=True)["config"]["width"]
    assert loaded.net == restorer_spec(width) and isinstance(loaded.model, Restorer)
    with torch.no_grad():
        assert loaded.model(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 64, 64)
