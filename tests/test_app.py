"""The web app's work without a browser: restorer choices, the photo and crops handlers, the
answers to bad uploads, settings and the page's layout. Browser tests: test_app_browser.py.

Everything reads the repository's own demo data, so nothing skips without ``../shared``.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from scgan_lightning.app import server
from scgan_lightning.app.handlers import Handlers
from scgan_lightning.app.photo import DECISION_HEADERS
from scgan_lightning.app.restorers import (
    FILE_CHOICE,
    RestorerPool,
    bundled_choices,
    checkpoint_for,
)
from scgan_lightning.checkpoints import save_restorer
from scgan_lightning.cli.common import check_overrides
from scgan_lightning.errors import UserError
from scgan_lightning.inference.job import predict
from scgan_lightning.inference.options import PhotoOptions, PredictOptions
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec

from .test_data_hostile import BAD_FILES, MODE_CASES, RED, encoded

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CONF = ROOT / "src" / "scgan_lightning" / "conf"
PHOTO = DEMO / "photo.jpg"  # 490x353 class photo; YuNet finds 69 faces, all under 15 px
DEFAULTS = PhotoOptions()
LIMIT = 4_000_000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A tiny network: thread hand-offs cost more than they save on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "restorer.pt"
    torch.manual_seed(0)
    save_restorer(
        path, Restorer(width=0.125), restorer_spec(0.125), {"scale": 4, "hr_size": 64}, ema=False
    )
    return path


@pytest.fixture(scope="module")
def pool() -> RestorerPool:
    return RestorerPool("cpu", "32", False)


@pytest.fixture
def handlers(pool, tmp_path) -> Handlers:
    results = tmp_path / "results"
    results.mkdir()
    return Handlers(pool, LIMIT, results)


def photo_args(ckpt: Path, **options) -> list:
    """The photo button's inputs after the upload: restorer, path, then the options."""
    values = {
        "max_face": DEFAULTS.max_face,
        "feather": DEFAULTS.feather,
        "margin": DEFAULTS.margin,
        "detector": DEFAULTS.detector,
        "min_face": DEFAULTS.min_face,
        **options,
    }
    return [FILE_CHOICE, str(ckpt), *values.values()]


def test_the_packaged_restorers_are_offered_the_default_first(tmp_path):
    choices = bundled_choices()
    assert choices == ["bundled: scgan_faces_real.pt", "bundled: scgan_faces_small.pt"]
    assert checkpoint_for(choices[0], "ignored") is None  # the bundled route of every command
    other = Path(checkpoint_for(choices[1], "ignored"))
    assert other.name == "scgan_faces_small.pt" and other.is_file()
    assert checkpoint_for(FILE_CHOICE, f" {tmp_path}/r.pt ") == str(tmp_path / "r.pt")
    with pytest.raises(UserError, match="give the path of a checkpoint file"):
        checkpoint_for(FILE_CHOICE, "  ")
    with pytest.raises(UserError, match="unknown restorer"):
        checkpoint_for("bundled: other.pt", "")


def test_the_pool_loads_a_restorer_once_and_names_a_file_it_cannot_load(pool, tiny_ckpt):
    assert pool.get(str(tiny_ckpt)) is pool.get(str(tiny_ckpt))
    with pytest.raises(UserError, match=r"nothing\.pt"):
        pool.get(str(tiny_ckpt.parent / "nothing.pt"))


def test_a_photo_comes_back_4x_with_its_faces_their_decisions_and_the_cli_counts(
    handlers, tiny_ckpt, tmp_path
):
    status, (bicubic, restored), gallery, table, downloads = handlers.photo(
        str(PHOTO), *photo_args(tiny_ckpt, max_face=11)
    )
    cli = predict(
        PredictOptions(
            input=str(PHOTO),
            output=str(tmp_path / "cli"),
            ckpt_path=str(tiny_ckpt),
            mode="photo",
            precision="32",
            channels_last=False,
            progress=False,
            photo=PhotoOptions(max_face=11),
        )
    )
    assert status == (
        f"**Restored.** photo.jpg: 490x353 -> 1960x1412; {cli.faces} faces found, restored "
        f"{cli.restored}, left {cli.too_large} larger than 11 px"
    )
    assert cli.restored > 0 and cli.too_large > 0
    assert Image.open(restored).size == Image.open(bicubic).size == (1960, 1412)
    cli_photo = np.asarray(Image.open(tmp_path / "cli" / "photo.png"))
    assert np.array_equal(np.asarray(Image.open(restored)), cli_photo)
    assert len(gallery) == cli.restored
    assert all(Image.open(path).size == (128, 64) for path, _ in gallery)
    rows = table["data"]
    assert table["headers"] == DECISION_HEADERS and len(rows) == cli.faces
    restored_rows = [row for row in rows if row[1] == "restored"]
    left_rows = [row for row in rows if row[1] == "left as it was"]
    assert len(restored_rows) == cli.restored and len(left_rows) == cli.too_large
    assert all(row[4] <= 11 for row in restored_rows) and all(row[4] > 11 for row in left_rows)
    assert [row[0] for row in rows] == list(range(1, cli.faces + 1))
    assert [Path(p).name for p in downloads] == [
        "photo_x4_restored.png",
        "photo_x4_bicubic.png",
        "photo_faces.zip",
    ]
    with zipfile.ZipFile(downloads[2]) as archive:
        names = archive.namelist()
        table_rows = list(csv.reader(io.StringIO(archive.read("photo_faces.csv").decode())))
    assert len(names) == 2 * cli.restored + 1
    assert Image.open(io.BytesIO(zipfile.ZipFile(downloads[2]).read("photo_1_sr.png"))).size == (
        64,
        64,
    )
    assert table_rows[0] == DECISION_HEADERS and len(table_rows) == cli.faces + 1


@pytest.mark.parametrize(("name", "data", "expected", "tolerance"), MODE_CASES)
def test_odd_image_modes_are_restored_as_rgb(handlers, tiny_ckpt, name, data, expected, tolerance):
    upload = handlers.results.parent / name
    upload.write_bytes(data)
    status, (_, restored), *_ = handlers.photo(str(upload), *photo_args(tiny_ckpt))
    assert status.startswith(f"**Restored.** {name}: 16x16 -> 64x64; 0 faces found")
    means = np.asarray(Image.open(restored).convert("RGB"), np.float64).mean(axis=(0, 1))
    assert all(abs(m - e) <= tolerance + 1 for m, e in zip(means, expected, strict=True))


def test_exif_rotation_is_applied_to_an_uploaded_photo(handlers, tiny_ckpt):
    stored = Image.new("RGB", (64, 32), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 32 wide, 64 high
    upload = handlers.results.parent / "rotated.jpg"
    stored.save(upload, quality=95, exif=exif)
    status, (_, restored), *_ = handlers.photo(str(upload), *photo_args(tiny_ckpt))
    assert "rotated.jpg: 32x64 -> 128x256" in status
    assert Image.open(restored).size == (128, 256)


HOSTILE = {
    **BAD_FILES,
    "big.png": encoded(Image.new("RGB", (2500, 2000)), "PNG"),  # 5 MP: over the 4 MP limit
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_bad_upload_is_answered_in_one_line_naming_it_and_leaves_no_files(
    handlers, tiny_ckpt, name
):
    upload = handlers.results.parent / "upload-7f3a" / name
    upload.parent.mkdir()
    upload.write_bytes(HOSTILE[name])
    status, slider, gallery, table, downloads = handlers.photo(str(upload), *photo_args(tiny_ckpt))
    assert status.startswith(f"**Not restored:** {name}: ") and "\n" not in status
    assert "upload-7f3a" not in status  # the user's name, not the server's copy
    assert (slider, gallery, table["data"], downloads) == (None, [], [], None)
    assert not any(handlers.results.iterdir())
    if name == "big.png":
        assert "2500x2000 is 5 megapixels, over the limit of 4 megapixels" in status


def test_a_bad_checkpoint_and_options_that_do_not_fit_are_answered(handlers, tiny_ckpt):
    missing = tiny_ckpt.parent / "missing.ckpt"
    status, *_ = handlers.photo(str(PHOTO), FILE_CHOICE, str(missing), 18, 0.1, 0, "yunet", 8)
    assert status.startswith("**Not restored:** ") and "missing.ckpt" in status
    status, *_ = handlers.photo(str(PHOTO), *photo_args(tiny_ckpt, max_face=6))
    assert status == "**Not restored:** photo.max_face=6 is below photo.min_face=8"
    assert handlers.photo(None, *photo_args(tiny_ckpt))[0] == "Choose a photo first."


def test_crops_larger_than_the_input_are_reported_unless_shrinking_is_allowed(handlers, tiny_ckpt):
    crops = sorted((DEMO / "lr_test").glob("*.png"))[:2]
    large = sorted((DEMO / "hr_val").glob("*.png"))[0]
    broken = handlers.results.parent / "broken.png"
    broken.write_bytes(BAD_FILES["truncated.png"])
    uploads = [str(p) for p in [*crops, large, broken]]
    status, gallery, archive = handlers.crops(uploads, FILE_CHOICE, str(tiny_ckpt), False)
    lines = status.splitlines()
    assert lines[0] == "**Restored 2 of 4 crops.**"
    assert lines[1] == (
        f"- not restored: {large.name}: 64x64 px is larger than the model's 16x16 input, not "
        "shrunk (faces.allow_downscale=true restores it anyway)"
    )
    assert lines[2].startswith("- not restored: broken.png: cannot read image")
    assert [caption for _, caption in gallery] == [f"1: {crops[0].name}", f"2: {crops[1].name}"]
    with zipfile.ZipFile(archive) as zipped:
        assert len(zipped.namelist()) == 2
    status, gallery, _ = handlers.crops(uploads, FILE_CHOICE, str(tiny_ckpt), True)
    assert status.splitlines()[0] == "**Restored 3 of 4 crops.**" and len(gallery) == 3
    status, gallery, archive = handlers.crops([str(broken)], FILE_CHOICE, str(tiny_ckpt), False)
    assert status.startswith("**Restored 0 of 1 crops.**") and (gallery, archive) == ([], None)


def test_settings_are_checked_and_a_misspelt_key_is_named():
    with pytest.raises(UserError, match="port must be in 1-65535"):
        server.AppSettings(port=70000)
    with pytest.raises(UserError, match="max_megapixels must be > 0"):
        server.AppSettings(max_megapixels=0)
    assert server.AppSettings(max_megapixels=2.5).max_pixels == 2_500_000
    with pytest.raises(UserError, match=r"unknown config key prot \(did you mean port\?\)"):
        check_overrides("app", ["prot=8080"])


def test_without_gradio_the_app_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)
    monkeypatch.delitem(sys.modules, "scgan_lightning.app.page", raising=False)
    with pytest.raises(UserError, match=r"pip install 'scgan_lightning\[app\]'"):
        server._import_page()


def test_the_page_has_what_the_browser_tests_drive_at_the_cli_defaults_offline(handlers):
    from scgan_lightning.app.page import build_page

    page = build_page(handlers, None, 12, 4)
    config = page.get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    assert {"photo-input", "photo-go", "photo-status", "photo-slider", "crops-go"} <= ids
    assert config["analytics_enabled"] is False
    by_id = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    assert by_id["restorer"]["value"] == "bundled: scgan_faces_real.pt"
    cli = OmegaConf.load(CONF / "predict.yaml")  # scgan-predict's defaults
    for key in ("max_face", "feather", "margin", "detector", "min_face"):
        assert by_id[f"photo-{key.replace('_', '-')}"]["value"] == cli.photo[key], key
    assert by_id["crops-downscale"]["value"] is cli.faces.allow_downscale
