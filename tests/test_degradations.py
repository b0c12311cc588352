"""Degradation chains: every step deterministic given a seed, in its range, the right shape."""

from __future__ import annotations

import math

import pytest
import torch

from scgan_lightning.data.degradation import (
    JPEG,
    AnisotropicBlur,
    Chain,
    Downscale,
    GaussianBlur,
    GaussianNoise,
    MotionBlur,
    OneOf,
    PoissonNoise,
    RandomResize,
    degrade_images,
    load_degradation,
    preset_names,
)
from scgan_lightning.data.degradation.steps import gaussian_kernel, motion_kernel, sample
from scgan_lightning.errors import UserError


def _face(seed: int = 0, size: int = 64) -> torch.Tensor:
    """A smooth image with edges (a face-like test card), in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(3, size // 8, size // 8, generator=g) * 2 - 1
    image = torch.nn.functional.interpolate(coarse[None], size=size, mode="bilinear")[0]
    image[:, size // 4 : size // 2, size // 4 :] = 0.8  # a hard edge
    return image.clamp(-1, 1)


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


STEPS = [
    GaussianBlur(sigma=(0.5, 2.0)),
    AnisotropicBlur(sigma_x=(0.5, 2.5), sigma_y=(0.5, 2.5)),
    MotionBlur(length=(3, 7)),
    RandomResize(factor=(0.5, 1.5)),
    GaussianNoise(sigma=(2, 10)),
    PoissonNoise(peak=(50, 500)),
    JPEG(quality=(30, 90)),
    OneOf(steps=[GaussianNoise(sigma=5.0), PoissonNoise(peak=100.0)]),
]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: type(s).__name__)
def test_every_step_is_deterministic_given_its_generator(step) -> None:
    image = _face()
    first, second = step(image, _rng(3), 16), step(image, _rng(3), 16)
    assert torch.equal(first, second)
    other = step(image, _rng(4), 16)
    assert not torch.equal(first, other)  # the seed is used
    assert first.dtype == torch.float32 and first.shape[0] == 3
    assert first.min() >= -1 and first.max() <= 1


@pytest.mark.parametrize("step", STEPS[:3] + STEPS[4:7], ids=lambda s: type(s).__name__)
def test_filters_and_noise_keep_the_size(step) -> None:
    assert step(_face(), _rng(), 16).shape == (3, 64, 64)


@pytest.mark.parametrize("method", ["area", "bicubic", "bilinear", "nearest"])
def test_downscale_reaches_the_lr_size_by_each_method(method) -> None:
    low = Downscale(methods=[method])(_face(), _rng(), 16)
    assert low.shape == (3, 16, 16)


def test_area_downscale_is_the_released_avgpool() -> None:
    image = _face()
    low = Downscale(methods=["area"])(image, _rng(), 16)
    assert torch.allclose(low, torch.nn.functional.avg_pool2d(image[None], 4)[0], atol=1e-6)


def test_sampled_parameters_stay_in_their_range() -> None:
    rng = _rng(1)
    draws = [sample((0.5, 2.0), rng) for _ in range(500)]
    assert min(draws) >= 0.5 and max(draws) <= 2.0
    assert max(draws) - min(draws) > 1.2  # the range is covered, not one value
    assert sample(3.0, rng) == 3.0


def test_blur_kernels_are_normalised_and_shaped_as_asked() -> None:
    iso = gaussian_kernel(1.0, 1.0, 0.0)
    aniso = gaussian_kernel(2.5, 0.5, 0.0)  # wide along x
    for kernel in (iso, aniso, motion_kernel(5.0, 0.0)):
        assert math.isclose(float(kernel.sum()), 1.0, rel_tol=1e-5)
    centre = aniso.shape[0] // 2
    assert aniso[centre, centre + 3] > aniso[centre + 3, centre]
    line = motion_kernel(5.0, 0.0)  # horizontal: all the weight on the middle row
    assert float(line[line.shape[0] // 2].sum()) > 0.99


def test_stronger_blur_removes_more_detail() -> None:
    image = _face()

    def detail(x: torch.Tensor) -> float:
        return float((x[:, :, 1:] - x[:, :, :-1]).abs().mean())

    weak = GaussianBlur(sigma=0.6)(image, _rng(), 16)
    strong = GaussianBlur(sigma=2.0)(image, _rng(), 16)
    assert detail(strong) < detail(weak) < detail(image)


def test_noise_level_follows_its_parameter() -> None:
    flat = torch.zeros(3, 64, 64)
    low = GaussianNoise(sigma=2.0)(flat, _rng(), 16)
    high = GaussianNoise(sigma=10.0)(flat, _rng(), 16)
    grey_levels = high.std().item() * 127.5
    assert 8.5 < grey_levels < 11.5
    assert low.std() < high.std()
    grey = GaussianNoise(sigma=5.0, gray_probability=1.0)(flat, _rng(), 16)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    dim = PoissonNoise(peak=20.0)(flat, _rng(), 16)
    bright = PoissonNoise(peak=2000.0)(flat, _rng(), 16)
    assert bright.std() < dim.std()


def test_jpeg_quality_controls_the_error() -> None:
    image = _face()
    error = {q: (JPEG(quality=q)(image, _rng(), 16) - image).abs().mean() for q in (10, 90)}
    assert error[90] < error[10]


def test_probability_zero_skips_a_step_and_keeps_seeds_aligned() -> None:
    image = _face()
    assert torch.equal(GaussianNoise(sigma=5.0, probability=0.0)(image, _rng(), 16), image)


def test_chain_and_batch_helper_are_deterministic_per_image_key() -> None:
    chain = load_degradation("realesrgan_lite")
    images = torch.stack([_face(i) for i in range(3)])
    first = degrade_images(chain, images, 4, ["a", "b", "c"], seed=7)
    assert first.shape == (3, 3, 16, 16)
    again = degrade_images(chain, images[[2, 0]], 4, ["c", "a"], seed=7)
    assert torch.equal(again[0], first[2]) and torch.equal(again[1], first[0])
    reseeded = degrade_images(chain, images, 4, ["a", "b", "c"], seed=8)
    assert not torch.equal(reseeded, first)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_builds_and_degrades_to_the_lr_size(name) -> None:
    chain = load_degradation(name)
    low = degrade_images(chain, _face()[None], 4, [0])
    assert low.shape == (1, 3, 16, 16)


def _halve_and_darken(hr: torch.Tensor, rng: torch.Generator, scale: int) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(hr[None], scale)[0] * 0.5


def _wrong_shape(hr: torch.Tensor, rng: torch.Generator, scale: int) -> torch.Tensor:
    return hr


def test_a_users_callable_is_a_degradation() -> None:
    target = f"{__name__}._halve_and_darken"
    degradation = load_degradation({"_target_": target, "_partial_": True})
    low = degrade_images(degradation, _face()[None], 4, [0])
    assert torch.allclose(low[0], torch.nn.functional.avg_pool2d(_face()[None], 4)[0] * 0.5)
    with pytest.raises(ValueError, match="_wrong_shape returned"):
        degrade_images(_wrong_shape, _face()[None], 4, [0])


def test_bad_specs_fail_in_one_line_naming_the_choices(tmp_path) -> None:
    with pytest.raises(UserError, match=r"unknown degradation 'blurr'.*avgpool"):
        load_degradation("blurr")
    with pytest.raises(UserError, match="not found"):
        load_degradation(str(tmp_path / "missing.yaml"))
    with pytest.raises(UserError, match="cannot build it"):
        load_degradation(
            {"_target_": "scgan_lightning.data.degradation.GaussianBlur", "sigma": [3.0, 1.0, 2.0]}
        )
    with pytest.raises(ValueError, match="resize method 'cubic'"):
        Downscale(methods=["cubic"])


def test_a_chain_in_a_yaml_file(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "_target_: scgan_lightning.data.degradation.Chain\nname: mine\nsteps:\n"
        "  - {_target_: scgan_lightning.data.degradation.Downscale, methods: [nearest]}\n"
    )
    chain = load_degradation(str(path))
    assert isinstance(chain, Chain) and chain.name == "mine"
