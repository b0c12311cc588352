"""``FaceRestorer`` as a library object: ready at once (nothing timed or written when built),
numpy arrays in (RGB, or BGR when told) and out, one-line errors for anything else, and the
public API importable from the package root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scgan_lightning.errors import ImageInputError
from scgan_lightning.imaging import to_tensor
from scgan_lightning.inference.detect import Box, Face
from scgan_lightning.inference.restorer import FaceRestorer
from scgan_lightning.nets import Restorer

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter whose HOME and XDG cache are empty folders: the bundled restorer
# with its defaults (device, precision and layout "auto") restores a list of numpy arrays.
FRESH_PROCESS = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    import numpy as np

    from scgan_lightning import FaceRestorer, PredictOptions, predict
    from scgan_lightning.nets import Restorer

    forwards = []
    network_forward = Restorer.forward

    def counted(self, x):
        forwards.append(tuple(x.shape))
        return network_forward(self, x)

    Restorer.forward = counted
    homes = [Path(os.environ["HOME"]), Path(os.environ["XDG_CACHE_HOME"])]

    def files():
        return sorted(str(p) for home in homes for p in home.rglob("*") if p.is_file())

    restorer = FaceRestorer.from_checkpoint(None)
    built = {"forwards": len(forwards), "files": files()}
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    restored = restorer.restore_faces(faces)
    print(json.dumps({
        "built": built,
        "restored": [[list(r.shape), str(r.dtype), type(r).__name__] for r in restored],
        "forwards": len(forwards),
        "api": [PredictOptions.__module__, predict.__module__, predict.__name__],
    }))
    """
)


def test_the_bundled_restorer_is_ready_without_timing_or_writing_anything(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SCGAN_CACHE_DIR"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(xdg), PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["built"] == {"forwards": 0, "files": []}  # no probe ran, nothing written
    assert result["restored"] == [[[64, 64, 3], "uint8", "ndarray"]] * 3
    assert result["forwards"] == 1  # the three faces, one batch
    assert result["api"] == [
        "scgan_lightning.inference.options",
        "scgan_lightning.inference.job",
        "predict",
    ]


@pytest.fixture(scope="module")
def restorer() -> FaceRestorer:
    torch.manual_seed(0)
    return FaceRestorer(Restorer(width=0.125), batch_size=4)


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(5)]


def test_numpy_faces_come_back_as_numpy_like_the_pil_ones(restorer, faces):
    from_arrays = restorer.restore_faces(faces)
    from_images = restorer.restore_faces([Image.fromarray(f) for f in faces])
    assert all(isinstance(r, np.ndarray) and r.shape == (64, 64, 3) for r in from_arrays)
    assert all(r.dtype == np.uint8 for r in from_arrays)
    for array, image in zip(from_arrays, from_images, strict=True):
        assert np.array_equal(array, np.asarray(image))
    as_tensor = restorer.restore_faces(torch.stack([to_tensor(Image.fromarray(f)) for f in faces]))
    assert as_tensor.shape == (5, 3, 64, 64)


def test_bgr_arrays_are_read_and_returned_in_bgr(restorer, faces):
    rgb = restorer.restore_faces(faces)
    bgr = restorer.restore_faces([f[..., ::-1] for f in faces], channel_order="bgr")
    for a, b in zip(rgb, bgr, strict=True):
        assert np.array_equal(a[..., ::-1], b)


class _OneFace:
    def __call__(self, image: np.ndarray) -> list[Face]:
        return [Face(Box(10, 10, 14, 14), 0.9)]


def test_a_numpy_photo_comes_back_as_numpy():
    torch.manual_seed(0)
    restorer = FaceRestorer(Restorer(width=0.125), detector=_OneFace())
    photo = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    canvas, restored = restorer.restore_photo(photo)
    image_canvas, _ = restorer.restore_photo(Image.fromarray(photo))
    assert isinstance(canvas, np.ndarray) and canvas.shape == (160, 192, 3)
    assert np.array_equal(canvas, np.asarray(image_canvas)) and len(restored) == 1
    bgr_canvas, _ = restorer.restore_photo(photo[..., ::-1], channel_order="bgr")
    assert np.array_equal(bgr_canvas[..., ::-1], canvas)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (
            "face.png",
            "takes a list of PIL images or height x width x 3 uint8 numpy arrays, "
            "or a (N, 3, h, w) tensor; got a str",
        ),
        (np.zeros((16, 16, 3), np.uint8), "got a single one (a numpy array of shape (16, 16, 3)"),
        (
            [np.zeros((16, 16), np.uint8)],
            "face 0 is a numpy array of shape (16, 16) and dtype "
            "uint8; expected height x width x 3, uint8",
        ),
        (
            [Image.new("RGB", (16, 16)), np.zeros((16, 16, 3))],
            "face 1 is a numpy array of shape (16, 16, 3) and dtype float64",
        ),
        ([{"face": 1}], "face 0 is a dict; expected one of PIL images"),
        (
            torch.zeros(3, 16, 16),
            "a float (N, 3, h, w) tensor in [-1, 1]; got a tensor of shape (3, 16, 16)",
        ),
    ],
)
def test_anything_else_is_refused_in_one_line_naming_what_it_got(restorer, images, message):
    with pytest.raises(ImageInputError) as caught:
        restorer.restore_faces(images)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, TypeError)


def test_an_unknown_channel_order_is_refused(restorer, faces):
    with pytest.raises(ValueError, match="channel_order must be 'rgb' or 'bgr', got 'brg'"):
        restorer.restore_faces(faces, channel_order="brg")
