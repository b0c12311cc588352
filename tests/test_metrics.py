"""PSNR / SSIM against hand-computed values, tensor = numpy, LPIPS and FID / KID offline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from scgan_lightning.errors import UserError
from scgan_lightning.metrics import fid, fidelity, perceptual
from scgan_lightning.metrics.weights import resolve_weights

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _random_image(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


# ----------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("d", [1, 5, 50])
def test_psnr_of_constant_images_differing_by_d(d: int) -> None:
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + np.uint8(d)
    assert fidelity.psnr(a, b) == pytest.approx(20 * math.log10(255 / d), abs=1e-12)


def test_psnr_identical_is_inf_and_crop_border_drops_the_border() -> None:
    a = _random_image(0)
    b = a.copy()
    assert fidelity.psnr(a, b) == math.inf
    b[:2] = 255 - b[:2]  # differ only in a 2-pixel top band
    assert math.isfinite(fidelity.psnr(a, b))
    assert fidelity.psnr(a, b, crop_border=2) == math.inf


def test_psnr_y_channel_uses_bt601_luma() -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    b = np.zeros((16, 16, 3), np.uint8)
    b[..., 0] = 255  # pure red: Y differs by 65.481
    assert fidelity.psnr(a, b, test_y_channel=True) == pytest.approx(
        20 * math.log10(255 / 65.481), abs=1e-9
    )
    # In RGB only one channel in three differs by 255: MSE = 255^2 / 3.
    assert fidelity.psnr(a, b) == pytest.approx(10 * math.log10(3), abs=1e-9)


def test_rgb_to_y_on_known_colours() -> None:
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]])
    expected = [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    np.testing.assert_allclose(fidelity.rgb_to_y(colours)[0], expected, atol=1e-9)


def test_mismatched_shapes_and_oversized_crop_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        fidelity.psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="crop_border"):
        fidelity.ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), crop_border=4)
    with pytest.raises(ValueError, match="crop_border"):
        fidelity.psnr_tensor(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), crop_border=4)
    with pytest.raises(ValueError, match="shapes differ"):
        fidelity.ssim_tensor(torch.zeros(1, 3, 16, 16), torch.zeros(2, 3, 16, 16))


# ----------------------------------------------------------------------------- SSIM


def test_ssim_of_identical_images_is_one() -> None:
    a = _random_image(1)
    assert fidelity.ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    a = np.full((11, 11, 3), 100, np.uint8)
    b = np.full((11, 11, 3), 110, np.uint8)
    expected = (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1)
    assert fidelity.ssim(a, b) == pytest.approx(expected, abs=1e-12)


def test_gaussian_window_matches_its_definition() -> None:
    window = fidelity.gaussian_window()
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    np.testing.assert_allclose(window, np.outer(g, g) / g.sum() ** 2, atol=1e-15)
    assert window.sum() == pytest.approx(1.0)


def test_ssim_on_one_11x11_patch_by_hand() -> None:
    """On 11x11 pixels the 'valid' region is one window: SSIM is its explicit formula."""
    rng = np.random.default_rng(2)
    a = rng.integers(20, 200, (11, 11)).astype(np.float64)
    w = fidelity.gaussian_window()
    mu_a = (w * a).sum()
    var_a = (w * a * a).sum() - mu_a**2
    # b = a + 30: same structure, brighter -> only the luminance term is below one.
    b = a + 30
    mu_b = mu_a + 30
    expected_shift = (2 * mu_a * mu_b + C1) / (mu_a**2 + mu_b**2 + C1)
    # c = 255 - a: mean 255 - mu_a, same variance, covariance -var_a.
    c = 255 - a
    mu_c = 255 - mu_a
    expected_negative = ((2 * mu_a * mu_c + C1) * (-2 * var_a + C2)) / (
        (mu_a**2 + mu_c**2 + C1) * (2 * var_a + C2)
    )
    grey = np.repeat(a[..., None], 3, axis=2)
    assert fidelity.ssim(grey, np.repeat(b[..., None], 3, axis=2)) == pytest.approx(
        expected_shift, abs=1e-12
    )
    assert fidelity.ssim(grey, np.repeat(c[..., None], 3, axis=2)) == pytest.approx(
        expected_negative, abs=1e-12
    )


def test_ssim_averages_channels() -> None:
    a, b = _random_image(3), _random_image(4)
    per_channel = [fidelity.ssim(a[..., [c]], b[..., [c]]) for c in range(3)]
    assert fidelity.ssim(a, b) == pytest.approx(np.mean(per_channel), abs=1e-12)


# ----------------------------------------------------------------------------- tensor versions


@pytest.mark.parametrize(("crop_border", "test_y_channel"), [(0, False), (4, True), (2, False)])
def test_tensor_versions_equal_numpy_versions(crop_border: int, test_y_channel: bool) -> None:
    hr = [_random_image(10 + i) for i in range(3)]
    noise = np.random.default_rng(20).integers(-25, 25, (3, 32, 32, 3))
    sr = [
        np.clip(h.astype(int) + n, 0, 255).astype(np.uint8) for h, n in zip(hr, noise, strict=True)
    ]
    psnr_t = fidelity.psnr_tensor(_to_tensor(sr), _to_tensor(hr), crop_border, test_y_channel)
    ssim_t = fidelity.ssim_tensor(_to_tensor(sr), _to_tensor(hr), crop_border, test_y_channel)
    for i in range(3):
        assert psnr_t[i].item() == pytest.approx(
            fidelity.psnr(sr[i], hr[i], crop_border, test_y_channel), abs=1e-9
        )
        assert ssim_t[i].item() == pytest.approx(
            fidelity.ssim(sr[i], hr[i], crop_border, test_y_channel), abs=1e-9
        )


def test_tensor_versions_quantise_to_8_bit_first() -> None:
    hr = _to_tensor([_random_image(5)])
    jitter = (torch.rand_like(hr) - 0.5) * (0.9 / 127.5)  # under half a grey level
    assert fidelity.psnr_tensor(hr + jitter, hr).item() == math.inf
    assert fidelity.ssim_tensor(hr + jitter, hr).item() == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- LPIPS


# Conv layers of torchvision's alexnet ``features`` (index: weight shape).
ALEXNET_CONVS = {
    0: (64, 3, 11, 11),
    3: (192, 64, 5, 5),
    6: (384, 192, 3, 3),
    8: (256, 384, 3, 3),
    10: (256, 256, 3, 3),
}


def _save_alexnet_features(path) -> dict[str, torch.Tensor]:
    """A random stand-in for torchvision's alexnet checkpoint, with its key names and shapes."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for index, shape in ALEXNET_CONVS.items():
        state[f"features.{index}.weight"] = torch.randn(shape, generator=g) * 0.05
        state[f"features.{index}.bias"] = torch.randn(shape[0], generator=g) * 0.05
    state["classifier.1.weight"] = torch.zeros(2, 2)  # other keys of the file are ignored
    torch.save(state, path)
    return state


def test_lpips_loads_the_backbone_from_a_path_or_the_hub_cache(tmp_path, monkeypatch) -> None:
    import lpips

    weights = tmp_path / "alexnet_features.pth"
    state = _save_alexnet_features(weights)
    model = perceptual.build_lpips(weights, net="alex")
    torch.testing.assert_close(model.net.slice1[0].weight, state["features.0.weight"])
    torch.testing.assert_close(model.net.state_dict()["slice5.10.bias"], state["features.10.bias"])
    bundled = torch.load(
        f"{lpips.__path__[0]}/weights/v0.1/alex.pth", map_location="cpu", weights_only=True
    )
    torch.testing.assert_close(model.lin0.model[1].weight, bundled["lin0.model.1.weight"])

    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    y = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with torch.inference_mode():
        same, different = model(x, x).flatten(), model(x, y).flatten()
    assert same.abs().max().item() < 1e-6
    assert (different > 1e-4).all()

    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "alexnet-owt-7be5be79.pth").write_bytes(weights.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    found = resolve_weights(None, perceptual.LPIPS_BACKBONE_FILES["alex"], "LPIPS alex")
    assert found == cache / "alexnet-owt-7be5be79.pth"


def test_lpips_without_weights_names_the_expected_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError, match=r"alexnet-owt-7be5be79\.pth"):
        perceptual.build_lpips(None, net="alex")
    with pytest.raises(UserError, match=r"nope\.pth: no such file.*vgg16-397923af\.pth"):
        perceptual.build_lpips(tmp_path / "nope.pth", net="vgg")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserError, match=r"wrong\.pth: 'features\.0\.weight' has shape"):
        perceptual.build_lpips(wrong, net="alex")
    with pytest.raises(UserError, match="lpips net 'resnet' unknown"):
        perceptual.build_lpips(wrong, net="resnet")


# ----------------------------------------------------------------------------- FID / KID


class TinyFeatures(nn.Module):
    """A stand-in for Inception: uint8 images -> 8 pooled conv features."""

    num_features = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, self.num_features, 5, stride=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 127.5 - 1.0
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def test_fid_kid_of_a_set_with_itself_is_zero_and_grows_with_a_shift() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(24, 3, 32, 32, generator=g) * 2 - 1
    extractor = TinyFeatures()
    real = fid.extract_features(extractor, images)
    assert real.shape == (24, 8) and real.dtype == torch.float64
    itself = fid.fid_kid(real, real, kid_subsets=5, kid_subset_size=10)
    slightly = fid.fid_kid(
        real, fid.extract_features(extractor, (images + 0.2).clamp(-1, 1)), 5, 10
    )
    strongly = fid.fid_kid(
        real, fid.extract_features(extractor, (images + 0.6).clamp(-1, 1)), 5, 10
    )
    assert abs(itself["fid"]) < 1e-6
    assert abs(itself["kid_mean"]) < 1e-3
    assert 0 < slightly["fid"] < strongly["fid"]
    assert slightly["kid_mean"] < strongly["kid_mean"]
    # KID subsets are drawn from the seed: the same call gives the same numbers.
    assert fid.fid_kid(real, real, 5, 10, seed=3) == fid.fid_kid(real, real, 5, 10, seed=3)


def test_fid_kid_need_two_images() -> None:
    features = torch.zeros(1, 8, dtype=torch.float64)
    with pytest.raises(UserError, match="at least 2 images"):
        fid.fid_kid(features, features)


def test_inception_without_weights_names_the_expected_file(tmp_path, monkeypatch) -> None:
    pytest.importorskip("torch_fidelity")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError, match=r"weights-inception-2015-12-05-6726825d\.pth"):
        fid.build_inception(None)
    with pytest.raises(UserError, match=r"missing\.pth: no such file"):
        fid.build_inception(tmp_path / "missing.pth")


def test_inception_loads_weights_from_a_path(tmp_path, monkeypatch) -> None:
    """Random weights in the real file layout exercise the offline loading path."""
    pytest.importorskip("torch_fidelity")
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    placeholder = tmp_path / "empty.pth"
    torch.save({}, placeholder)
    with monkeypatch.context() as patch:
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        random_inception = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], str(placeholder)
        )
    weights = tmp_path / "inception.pth"
    torch.save(random_inception.state_dict(), weights)

    extractor = fid.build_inception(weights)
    torch.testing.assert_close(
        extractor.Conv2d_1a_3x3.conv.weight, random_inception.Conv2d_1a_3x3.conv.weight
    )
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    features = fid.extract_features(extractor, images)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()

    with pytest.raises(UserError, match=r"empty\.pth: not the FID Inception weights"):
        fid.build_inception(placeholder)
