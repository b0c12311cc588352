"""Forward parity of the networks with outputs computed by the released SCGAN code."""

from __future__ import annotations

import torch

from scgan_lightning.released import import_released
from tests.golden_weights import golden, released_state_dict

ATOL = 1e-4


def test_restorer_rgb_import_matches_released_bgr_outputs():
    data = golden("restorer_eval.pt")
    restorer = import_released("restorer", released_state_dict("restorer", "G_RLS"), rgb=True)
    restorer.eval()
    with torch.no_grad():
        out_rgb = restorer(data["input_bgr"].flip(1))
    err = (out_rgb - data["output_bgr"].flip(1)).abs().max().item()
    assert err < ATOL, err


def test_restorer_bgr_import_matches_released_outputs_unchanged():
    data = golden("restorer_eval.pt")
    restorer = import_released("restorer", released_state_dict("restorer", "G_RLS"), rgb=False)
    with torch.no_grad():
        out = restorer.eval()(data["input_bgr"])
    assert (out - data["output_bgr"]).abs().max().item() < ATOL


def test_degrader_matches_released_outputs():
    data = golden("degrader.pt")
    degrader = import_released("degrader", released_state_dict("degrader", "G_DHL"), rgb=False)
    with torch.no_grad():
        out = degrader.eval()(data["input"], data["z"])
    assert out.shape == data["output"].shape
    assert (out - data["output"]).abs().max().item() < ATOL


def _check_discriminator(kind: str, salt: str, filename: str) -> None:
    data = golden(filename)
    disc = import_released(kind, released_state_dict(kind, salt), rgb=False).train()
    with torch.no_grad():
        first = disc(data["input"])
        second = disc(data["input"])
    assert (first - data["output_first_call"]).abs().max().item() < ATOL
    assert (second - data["output_second_call"]).abs().max().item() < ATOL


def test_discriminator_16_first_and_second_calls_match_released():
    _check_discriminator("discriminator_16", "D16", "discriminator_16.pt")


def test_discriminator_64_first_and_second_calls_match_released():
    _check_discriminator("discriminator_64", "D64", "discriminator_64.pt")


def test_discriminator_rgb_import_is_the_channel_reversed_bgr_network():
    data = golden("discriminator_64.pt")
    weights = released_state_dict("discriminator_64", "D64")
    bgr = import_released("discriminator_64", weights, rgb=False).train()
    rgb = import_released("discriminator_64", weights, rgb=True).train()
    with torch.no_grad():
        assert torch.allclose(rgb(data["input"].flip(1)), bgr(data["input"]), atol=1e-5)
