"""Network sizes, shapes at several widths, and the spectral-norm contract."""

from __future__ import annotations

import math

import pytest
import torch

from scgan_lightning.nets import Degrader, Discriminator, Restorer
from tests.golden_weights import released_layout

# Parameter counts of the released networks (SCGAN_SPEC). The released restorer also owns an
# unused 1x1 conv `a2` (128 -> 96, 12,384 parameters) that never runs; this project drops it.
RELEASED_A2 = 96 * 128 + 96


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_released_parameter_counts_at_width_one():
    assert _count(Restorer()) + RELEASED_A2 == 15_476_323
    assert _count(Degrader()) == 12_291_896
    assert _count(Discriminator(16)) == 15_390_849
    assert _count(Discriminator(64)) == 15_456_641


def test_discriminator_state_matches_released_layout_size():
    # Spectral-norm vectors are buffers here (not trained), parameters in the released file.
    for size in (16, 64):
        layout = released_layout(f"discriminator_{size}")
        assert sum(p.numel() for p in Discriminator(size).state_dict().values()) == sum(
            math.prod(s) for s in layout.values()
        )


@pytest.mark.parametrize("width", [1.0, 0.5, 0.125])
def test_forward_shapes(width: float):
    torch.manual_seed(0)
    lr, hr, z = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64)
    with torch.no_grad():
        assert Restorer(width).eval()(lr).shape == (2, 3, 64, 64)
        assert Degrader(width)(hr, z).shape == (2, 3, 16, 16)
        assert Discriminator(16, width)(lr).shape == (2, 1)
        assert Discriminator(64, width)(hr).shape == (2, 1)


def test_tiny_width_forward_backward_runs_on_cpu():
    torch.manual_seed(0)
    nets = [Restorer(0.125), Degrader(0.125), Discriminator(64, 0.125)]
    lr, hr, z = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 64, 64), torch.randn(4, 1, 64)
    sr = nets[0](lr)
    loss = sr.mean() + nets[1](hr, z).mean() + nets[2](sr).mean()
    loss.backward()
    assert all(p.grad is not None for net in nets for p in net.parameters())


def test_outputs_are_tanh_bounded():
    with torch.no_grad():
        out = Restorer(0.125).eval()(torch.randn(1, 3, 16, 16) * 5)
    assert out.abs().max() <= 1


def test_invalid_discriminator_size_is_refused():
    with pytest.raises(ValueError, match="image_size"):
        Discriminator(24)


def test_spectral_norm_vectors_stay_float32_under_bf16_autocast():
    disc = Discriminator(16, 0.125).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        disc(torch.randn(2, 3, 16, 16)).float().mean().backward()
    for name, buffer in disc.named_buffers():
        assert buffer.dtype == torch.float32, name


def test_spectral_norm_power_iteration_only_in_training_mode():
    disc = Discriminator(16, 0.125)
    x = torch.randn(2, 3, 16, 16)
    before = {k: v.clone() for k, v in disc.state_dict().items()}
    with torch.no_grad():
        disc.eval()(x)
    assert all(torch.equal(before[k], v) for k, v in disc.state_dict().items())
    with torch.no_grad():
        disc.train()(x)
    assert not torch.equal(before["blocks.0.conv1.sn.weight_u"], disc.blocks[0].conv1.sn.weight_u)


def test_released_and_torch_style_spectral_norm_backward_differ_only_in_gradient():
    torch.manual_seed(0)
    released = Discriminator(16, 0.125, released_backward=True).train()
    torch_style = Discriminator(16, 0.125, released_backward=False).train()
    torch_style.load_state_dict(released.state_dict())
    real, fake = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    losses = []
    for disc in (released, torch_style):
        loss = disc(real).mean() - disc(fake).mean()  # two calls before one backward
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    w_grad = [d.blocks[0].conv1.sn.weight_bar.grad for d in (released, torch_style)]
    assert not torch.allclose(w_grad[0], w_grad[1])
