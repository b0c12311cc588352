"""The inference package: the detector, the size policy, run settings chosen by measurement,
the engine, paste-back geometry and the shared helpers' answers to unknown keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scgan_lightning.autotune import Settings, cache_path
from scgan_lightning.cli.common import check_overrides
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import to_tensor, to_uint8
from scgan_lightning.inference import detect, geometry
from scgan_lightning.inference import engine as engine_module
from scgan_lightning.inference.detect import Box, Face
from scgan_lightning.inference.engine import RestoreEngine
from scgan_lightning.inference.options import PhotoOptions, option_keys
from scgan_lightning.inference.photo_mode import upscale
from scgan_lightning.inference.restorer import FaceRestorer
from scgan_lightning.nets import Restorer

PHOTO = Path(__file__).resolve().parents[1] / "data" / "demo" / "photo.jpg"
F32, F32_CL = Settings("32", False), Settings("32", True)
BF16, BF16_CL = Settings("bf16", False), Settings("bf16", True)


pytestmark = pytest.mark.usefixtures("timing_cache")  # timed choices never reach the user's cache


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(PHOTO).convert("RGB"))


@pytest.fixture(scope="module")
def engine() -> RestoreEngine:
    torch.manual_seed(0)
    return RestoreEngine(Restorer(width=0.125), "cpu", batch_size=4)


def test_yunet_finds_the_tiny_faces_of_the_demo_photo(photo):
    faces = detect.make_detector("yunet", min_face=8)(photo)
    assert 50 <= len(faces) <= 90  # 69 with opencv-python-headless 4.14
    assert sum(f.box.side <= 20 for f in faces) >= 0.9 * len(faces)
    assert all(f.landmarks.shape == (5, 2) and 0.6 <= f.score <= 1 for f in faces)
    height, width = photo.shape[:2]
    assert all(f.box.x + f.box.w <= width and f.box.y + f.box.h <= height for f in faces)
    assert faces == sorted(faces, key=lambda f: (f.box.y, f.box.x))


def test_a_detection_with_non_finite_numbers_is_dropped(photo):
    """YuNet once returned a row at infinity for a 64x32 single-colour photo (the app's EXIF
    test); such a row is no face, and the photo's other faces stay."""

    class Rows:
        def __init__(self, rows: np.ndarray) -> None:
            self.rows = rows

        def setInputSize(self, size) -> None:  # OpenCV's name
            pass

        def detect(self, image):
            return 1, self.rows

    yunet = detect.make_detector("yunet", min_face=8)
    real = np.array([[10, 12, 16, 18, *range(10), 0.9]], dtype=np.float32)
    broken = real.copy()
    broken[0, 1] = np.inf
    yunet._net = Rows(np.concatenate([broken, real]))
    (face,) = yunet(photo)
    assert face.box == Box(10, 12, 16, 18) and face.score == pytest.approx(0.9)


def test_haar_stays_available_and_finds_fewer(photo):
    haar = detect.make_detector("haar", min_face=8)(photo)
    assert len(haar) < len(detect.make_detector("yunet", min_face=8)(photo))
    with pytest.raises(UserError, match=r"photo\.detector must be one of yunet, haar"):
        detect.make_detector("dlib", 8)


def test_missing_opencv_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(UserError, match="pip install opencv-python-headless"):
        detect.make_detector("yunet", 8)


class FixedFaces:
    """A stand-in detector: the same faces for every photo."""

    def __init__(self, faces: list[Face]) -> None:
        self.faces = faces

    def __call__(self, image: np.ndarray) -> list[Face]:
        return self.faces


def test_a_face_above_max_face_keeps_the_background_upsample(photo, engine):
    small, large = Face(Box(40, 40, 16, 16), 0.9), Face(Box(200, 100, 40, 40), 0.9)
    restorer = FaceRestorer(
        engine.model, photo=PhotoOptions(max_face=18), detector=FixedFaces([small, large])
    )
    result = restorer.process_photo(Image.fromarray(photo))
    background = upscale(Image.fromarray(photo), 4)
    assert (result.found, result.restored, result.too_large) == (2, 1, 1)
    assert result.left == [large.box] and result.faces[0].box == small.box
    big = np.s_[100 * 4 : 140 * 4, 200 * 4 : 240 * 4]
    assert np.array_equal(result.canvas[big], background[big])
    tiny = np.s_[40 * 4 : 56 * 4, 40 * 4 : 56 * 4]
    assert not np.array_equal(result.canvas[tiny], background[tiny])
    outside = np.ones(background.shape[:2], bool)
    outside[tiny[0], tiny[1]] = False
    assert np.array_equal(result.canvas[outside], background[outside])


def test_with_photo_shares_the_network_and_keeps_the_detector_only_when_it_fits(engine):
    base = FaceRestorer(engine.model, detector=FixedFaces([]))
    same_detector = base.with_photo(PhotoOptions(max_face=11, feather=0.2))
    other_detector = base.with_photo(PhotoOptions(min_face=4))
    assert same_detector.engine is base.engine is other_detector.engine
    assert same_detector.detector is base.detector and same_detector.photo.max_face == 11
    assert isinstance(other_detector.detector, detect.YuNet)
    assert other_detector.detector.min_face == 4
    assert base.photo == PhotoOptions()


def test_face_restorer_restores_pil_faces_as_it_restores_tensors(engine):
    restorer = FaceRestorer(engine.model, batch_size=3)
    rng = np.random.default_rng(0)
    faces = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)) for _ in range(5)]
    faces.append(faces[0].resize((40, 40), Image.Resampling.BICUBIC))  # shrunk to the input
    restored = restorer.restore_faces(faces)
    assert [face.size for face in restored] == [(64, 64)] * 6
    as_tensors = restorer.restore_faces(torch.stack([to_tensor(f) for f in faces[:5]]))
    assert as_tensors.shape == (5, 3, 64, 64)
    assert all(
        np.array_equal(np.asarray(face), to_uint8(sr))
        for face, sr in zip(restored[:5], as_tensors, strict=True)
    )
    assert restorer.restore_faces([]) == []


def test_face_restorer_restores_a_photo_without_files(photo, engine):
    faces = [Face(Box(40, 40, 16, 16), 0.9), Face(Box(100, 60, 12, 14), 0.9)]
    restorer = FaceRestorer(engine.model, detector=FixedFaces(faces))
    restored, crops = restorer.restore_photo(Image.fromarray(photo))
    assert restored.size == (photo.shape[1] * 4, photo.shape[0] * 4)
    assert [face.box for face in crops] == [Box(40, 40, 16, 16), Box(99, 60, 14, 14)]
    assert all(face.lr.size == (16, 16) and face.sr.size == (64, 64) for face in crops)
    pasted = np.asarray(restored)[40 * 4 + 30, 40 * 4 + 30]  # inside the first face, no feather
    assert np.array_equal(pasted, np.asarray(crops[0].sr.resize((64, 64)))[30, 30])


def _faces(count: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(count, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _model() -> Restorer:
    torch.manual_seed(0)
    return Restorer(width=0.125).eval()


def test_auto_settings_are_timed_on_the_batches_restored_not_when_built(monkeypatch):
    cost = {F32: 0.5, F32_CL: 0.2, BF16_CL: 0.3}  # injected seconds per batch
    clock = [0.0]
    monkeypatch.setattr(engine_module.time, "perf_counter", lambda: clock[0])
    run = engine_module.RestoreEngine._run

    def timed_run(self, lr, settings):
        clock[0] += cost[settings]
        return run(self, lr, settings)

    monkeypatch.setattr(engine_module.RestoreEngine, "_run", timed_run)
    model = _model()
    restorer = FaceRestorer(model, precision="auto", channels_last="auto", batch_size=2)
    assert clock[0] == 0.0 and not cache_path().exists()  # nothing ran, nothing written
    lr = _faces(21)  # ten full batches and one partial
    with torch.no_grad():
        expected = _model()(lr)
    restored = restorer.restore_faces(lr)
    # Every batch is real work, whatever it ran under (bf16 within its rounding).
    torch.testing.assert_close(restored, expected, atol=0.05, rtol=0)
    assert restorer.engine.tuner is None and restorer.engine.settings == F32_CL
    (entry,) = json.loads(cache_path().read_text()).values()
    assert entry["settings"] == {"precision": "32", "channels_last": True, "adam_impl": None}
    # The next restorer of this model reads the choice and times nothing.
    again = FaceRestorer(model, precision="auto", channels_last="auto", batch_size=2)
    assert again.engine.tuner is None and again.engine.settings == F32_CL
    # Fixed settings are taken as given.
    fixed = FaceRestorer(model, precision="bf16", channels_last=False, batch_size=2)
    assert fixed.engine.tuner is None and fixed.engine.settings == BF16


def test_real_timing_settles_on_a_candidate():
    restorer = FaceRestorer(_model(), precision="32", channels_last="auto", batch_size=2)
    restorer.restore_faces(_faces(12))
    assert restorer.engine.settings in (F32, F32_CL) and restorer.engine.tuner is None
    assert cache_path().is_file()


def test_engine_batches_give_the_whole_batch_result(engine):
    lr = torch.rand(10, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected = engine.model(lr)
    restored = engine.restore(lr)  # batches of 4, 4, 2
    torch.testing.assert_close(restored, expected, atol=1e-5, rtol=0)
    assert engine.restore(lr[:0]).shape == (0, 3, 64, 64)


def test_face_square_is_square_and_inside_the_photo():
    face = Face(Box(2, 90, 20, 16), 1.0)
    assert geometry.face_square(face, 0.25, 100, 100) == Box(0, 70, 30, 30)  # shifted inward
    large = Face(Box(0, 0, 80, 80), 1.0)
    assert geometry.face_square(large, 0.5, 100, 60) == Box(10, 0, 60, 60)


def test_paste_blends_only_inside_the_square():
    canvas = np.full((40, 40, 3), 10, np.uint8)
    face = np.full((8, 8, 3), 250, np.uint8)
    hard = canvas.copy()
    geometry.paste(hard, face, Box(2, 3, 4, 4), scale=2, feather=0.0)
    assert (hard[6:14, 4:12] == 250).all()
    hard[6:14, 4:12] = 10
    assert (hard == 10).all()
    soft = canvas.copy()
    geometry.paste(soft, face, Box(2, 3, 4, 4), scale=2, feather=0.5)
    assert soft[10, 8, 0] > soft[6, 4, 0] > 10  # centre near the face, edge blended


@pytest.mark.parametrize(
    ("config", "argument", "suggestion"),
    [
        ("train", "trainer.max_epoch=3", "trainer.max_epochs"),
        ("evaluate", "ckpt=restorer.pt", "ckpt_path"),
        ("export", "output=exported", "output_dir"),
        ("predict", "photo.maxface=20", "photo.max_face"),
    ],
)
def test_unknown_keys_name_the_closest_valid_one(config, argument, suggestion):
    with pytest.raises(UserError, match=rf"unknown config key .*\(did you mean {suggestion}\?\)"):
        check_overrides(config, [argument])


def test_known_keys_and_group_choices_pass():
    check_overrides("train", ["experiment=demo", "trainer.max_epochs=1", "+extra=1"])
    check_overrides("predict", ["input=a", "photo.max_face=20", "faces.allow_downscale=true"])
    predict_keys = ["input=a", "+photo.max_face=20", "hydra.run.dir=x"]
    check_overrides("predict", predict_keys, option_keys())
    with pytest.raises(UserError, match=r"did you mean photo\.min_face\?"):
        check_overrides("predict", ["+photo.minface=3"], option_keys())
