"""The released-checkpoint importer: key mapping, RGB conversion and its error messages."""

from __future__ import annotations

import pickle

import pytest
import torch

from scgan_lightning.errors import CheckpointError
from scgan_lightning.released import (
    KINDS,
    convert_released_state_dict,
    import_released,
    load_released_checkpoint,
    map_released_key,
)
from tests.golden_weights import golden, released_layout, released_state_dict


@pytest.mark.parametrize("kind", KINDS)
def test_every_released_key_maps_onto_the_network(kind: str):
    module_keys = set(import_released(kind, released_state_dict(kind, "x"), rgb=False).state_dict())
    mapped = {map_released_key(kind, k) for k in released_layout(kind)} - {None}
    assert mapped == module_keys


def test_unused_a2_weights_are_accepted_and_dropped():
    assert map_released_key("restorer", "a2.0.weight") is None
    assert map_released_key("restorer", "a2.0.bias") is None


def test_missing_key_is_named():
    state = released_state_dict("restorer", "G_RLS")
    del state["main.4.bias"]
    with pytest.raises(CheckpointError, match=r"miss 1 key\(s\), first 'tail\.4\.bias'"):
        import_released("restorer", state)


def test_unexpected_key_is_named():
    state = released_state_dict("degrader", "G_DHL")
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unexpected key 'extra\.weight'"):
        import_released("degrader", state)


def test_shape_mismatch_names_key_and_both_shapes():
    state = released_state_dict("restorer", "G_RLS")
    state["layers_in.weight"] = torch.zeros(256, 3, 5, 5)
    with pytest.raises(CheckpointError) as info:
        import_released("restorer", state)
    message = str(info.value)
    assert "'layers_in.weight'" in message
    assert "(256, 3, 5, 5)" in message and "(256, 3, 3, 3)" in message


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown network kind"):
        import_released("generator", {})


@pytest.mark.parametrize("wrapper", ["G_l2h", "G_RLS", None])
def test_load_released_checkpoint_file_layouts(tmp_path, wrapper):
    state = released_state_dict("restorer", "G_RLS")
    path = tmp_path / "pretrained_model.pth"
    torch.save({wrapper: state} if wrapper else state, path)
    restorer = load_released_checkpoint(path)
    data = golden("restorer_eval.pt")
    with torch.no_grad():
        out = restorer(data["input_bgr"].flip(1))
    assert not restorer.training
    assert (out - data["output_bgr"].flip(1)).abs().max() < 1e-4


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello, not a checkpoint")
    with pytest.raises(CheckpointError, match=r"notes\.pth: not a PyTorch checkpoint"):
        load_released_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_released_checkpoint(tmp_path / "absent.pth")


class _RunsCode:
    """Unpickling this calls ``open(marker, 'w')``: what a malicious checkpoint could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        torch.save({"G_l2h": _RunsCode(str(marker))}, handle, pickle_module=pickle)
    with pytest.raises(CheckpointError, match=r"refused.*would run code"):
        load_released_checkpoint(path)
    assert not marker.exists()


def test_dict_without_restorer_weights(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"optimizer": {"lr": 0.1}}, path)
    with pytest.raises(CheckpointError, match="no restorer weights found"):
        load_released_checkpoint(path)


def test_rgb_conversion_is_exact_channel_reversal():
    state = released_state_dict("degrader", "G_DHL")
    data = golden("degrader.pt")
    rgb = import_released("degrader", state, rgb=True).eval()
    bgr = import_released("degrader", state, rgb=False).eval()
    with torch.no_grad():
        assert torch.allclose(
            rgb(data["input"].flip(1), data["z"]).flip(1), bgr(data["input"], data["z"]), atol=1e-6
        )


def test_converted_state_dict_keeps_released_values():
    state = released_state_dict("discriminator_16", "D16")
    converted = convert_released_state_dict("discriminator_16", state, rgb=False)
    assert torch.equal(converted["fc1.sn.weight_bar"], state["out_layer.0.module.weight_bar"])
    assert torch.equal(
        converted["blocks.4.shortcut.bias"], state["residual_blocks.4.skip.1.module.bias"]
    )
