"""Prediction: face folders, whole photos, the released checkpoint, the CLI and bad input.

Everything here reads the repository's own demo data (``data/demo``), so no test skips when
``../shared`` is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

import scgan_lightning
from scgan_lightning.checkpoints import save_restorer
from scgan_lightning.cli import predict as predict_cli
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import resize
from scgan_lightning.inference import inputs as inputs_module
from scgan_lightning.inference import models, writers
from scgan_lightning.inference.job import predict
from scgan_lightning.inference.options import FaceOptions, PhotoOptions, PredictOptions
from scgan_lightning.inference.photo_mode import upscale
from scgan_lightning.inference.restorer import FaceRestorer
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec
from tests.golden_weights import golden, released_state_dict

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
LR_FACES = DEMO / "lr_test"
PHOTO = DEMO / "photo.jpg"  # 490x353 class photo; YuNet finds 69 faces, all under 15 px
CONF = Path(scgan_lightning.__file__).parent / "conf"


def _sizes(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): Image.open(p).size for p in folder.rglob("*.png")}


def _bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _options(input_path: Path, output: Path, ckpt: Path | None, **kw) -> PredictOptions:
    kw.setdefault("precision", "32")  # exact, and no timing run in most tests
    kw.setdefault("channels_last", False)
    return PredictOptions(
        input=str(input_path),
        output=str(output),
        ckpt_path=str(ckpt) if ckpt else None,
        progress=False,
        **kw,
    )


def _run_main(overrides: list[str]) -> int:
    """The Hydra task function in-process; returns its exit code."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("predict", overrides=overrides)
    try:
        predict_cli._main.__wrapped__(cfg)
    except SystemExit as exit_:
        return int(exit_.code)
    return 0


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks: thread hand-offs cost more than they save, and on a busy 2-core machine
    spinning OpenMP workers made these runs up to 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """precision=auto writes its timing cache here, not in the user's home."""
    monkeypatch.setenv("SCGAN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "restorer.pt"
    torch.manual_seed(0)
    config = {"scale": 4, "hr_size": 64}
    save_restorer(path, Restorer(width=0.125), restorer_spec(0.125), config, ema=False)
    return path


@pytest.fixture(scope="module")
def released_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("released") / "pretrained_model.pth"
    torch.save({"G_l2h": released_state_dict("restorer", "G_RLS")}, path)
    return path


@pytest.fixture(scope="module")
def face_dir(tmp_path_factory) -> Path:
    """24 real 16x16 LR faces from the demo set: 16 at the top, 8 in ``sub/``."""
    folder = tmp_path_factory.mktemp("faces")
    names = sorted(p.name for p in LR_FACES.glob("*.png"))[:24]
    (folder / "sub").mkdir()
    for k, name in enumerate(names):
        shutil.copy(LR_FACES / name, folder / ("sub" if k >= 16 else ".") / name)
    return folder


def _expected_names(face_dir: Path) -> set[str]:
    return {p.relative_to(face_dir).as_posix() for p in face_dir.rglob("*.png")}


def test_faces_mode_writes_64px_pngs_at_relative_paths(face_dir, tiny_ckpt, tmp_path):
    out = tmp_path / "out"
    summary = predict(_options(face_dir, out, tiny_ckpt, batch_size=10, save_cmp=True))
    assert (summary.done, summary.failed, summary.skipped) == (24, 0, 0)
    sizes = _sizes(out)
    names = _expected_names(face_dir)
    assert {n for n in sizes if not n.startswith("cmp/")} == names
    assert {n for n, s in sizes.items() if s == (64, 64)} == names
    assert {n[4:] for n, s in sizes.items() if n.startswith("cmp/") and s == (128, 64)} == names
    assert all(Image.open(out / n).mode == "RGB" for n in names)


def test_cmp_shows_the_users_original_beside_the_result(tmp_path, tiny_ckpt):
    inputs = tmp_path / "in"
    inputs.mkdir()
    original = Image.open(sorted((DEMO / "hr_val").glob("*.png"))[0]).convert("RGB")
    original.resize((40, 40), Image.Resampling.LANCZOS).save(inputs / "face.png")
    faces = FaceOptions(allow_downscale=True)
    options = _options(inputs, tmp_path / "out", tiny_ckpt, save_cmp=True, faces=faces)
    assert predict(options).done == 1
    cmp = np.asarray(Image.open(tmp_path / "out" / "cmp" / "face.png"))
    expected = np.asarray(resize(Image.open(inputs / "face.png").convert("RGB"), 64))
    assert np.array_equal(cmp[:, :64], expected)  # the 40 px original, not the 16 px input
    assert np.array_equal(cmp[:, 64:], np.asarray(Image.open(tmp_path / "out" / "face.png")))


def test_face_mode_skips_a_crop_larger_than_the_input_and_names_the_option(
    face_dir, tiny_ckpt, tmp_path, capsys
):
    inputs = tmp_path / "in"
    shutil.copytree(face_dir / "sub", inputs)
    Image.new("RGB", (512, 512), (90, 60, 40)).save(inputs / "big.png")
    summary = predict(_options(inputs, tmp_path / "out", tiny_ckpt))
    assert (summary.done, summary.failed, summary.skipped) == (8, 0, 1)
    lines = [line for line in capsys.readouterr().err.splitlines() if "big.png" in line]
    assert lines == [
        f"skipped: {inputs / 'big.png'}: 512x512 px is larger than the model's 16x16 input, "
        "not shrunk (faces.allow_downscale=true restores it anyway)"
    ]
    assert not (tmp_path / "out" / "big.png").exists()
    assert "skipped: 1" in summary.line()

    faces = FaceOptions(allow_downscale=True)
    again = predict(_options(inputs, tmp_path / "again", tiny_ckpt, faces=faces))
    assert (again.done, again.skipped) == (9, 0)
    assert Image.open(tmp_path / "again" / "big.png").size == (64, 64)


def test_cli_reports_bad_files_writes_the_rest_and_exits_1(face_dir, tiny_ckpt, tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(face_dir, inputs)
    good_png = next(inputs.glob("*.png")).read_bytes()
    (inputs / "corrupt.png").write_bytes(good_png[: len(good_png) // 2])
    (inputs / "notes.jpg").write_text("not an image")
    before = _bytes(inputs)
    reference = tmp_path / "reference"
    predict(_options(face_dir, reference, tiny_ckpt))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scgan_lightning.predict",
            f"ckpt_path={tiny_ckpt}",
            "input=in",
            "output=out",
            "batch_size=8",
            "precision=32",
            "channels_last=false",
            "progress=false",
        ],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2
    assert any("corrupt.png" in line for line in failures)
    assert any("notes.jpg" in line for line in failures)
    assert "Traceback" not in result.stderr
    assert "done: 24, failed: 2" in result.stdout
    assert _bytes(tmp_path / "out") == _bytes(reference)  # CLI and Python API agree
    assert _bytes(inputs) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out", "reference"]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("batchsize=4", "unknown config key batchsize (did you mean batch_size?)"),
        ("photo.max_faces=20", "unknown config key photo.max_faces (did you mean photo.max_face?)"),
        ("faces.allow_downscaling=true", "(did you mean faces.allow_downscale?)"),
    ],
)
def test_cli_answers_an_unknown_key_with_the_closest_one(tmp_path, argument, message):
    result = subprocess.run(
        [sys.executable, "-m", "scgan_lightning.predict", "input=x", "output=y", argument],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_released_checkpoint_matches_golden_outputs(released_ckpt):
    restorer = FaceRestorer.from_checkpoint(released_ckpt, "cpu", "32", channels_last=False)
    data = golden("restorer_eval.pt")
    out = restorer.restore_faces(data["input_bgr"].flip(1))
    assert restorer.source == "released"
    assert out.dtype == torch.float32
    assert (out - data["output_bgr"].flip(1)).abs().max().item() < 1e-4
    bf16 = FaceRestorer.from_checkpoint(released_ckpt, "cpu", "bf16", channels_last=False)
    out_bf16 = bf16.restore_faces(data["input_bgr"].flip(1))
    assert out_bf16.dtype == torch.float32
    assert (out_bf16 - out).abs().mean().item() < 0.02


def test_released_checkpoint_restores_real_faces(released_ckpt, face_dir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in sorted(face_dir.glob("*.png"))[:2]:
        shutil.copy(path, inputs / path.name)
    summary = predict(_options(inputs, tmp_path / "out", released_ckpt))
    assert summary.done == 2
    assert set(_sizes(tmp_path / "out").values()) == {(64, 64)}


def test_trainer_path_writes_the_same_images(face_dir, tiny_ckpt, tmp_path):
    direct, trainer = tmp_path / "direct", tmp_path / "trainer"
    predict(_options(face_dir, direct, tiny_ckpt, batch_size=8))
    summary = predict(
        _options(face_dir, trainer, tiny_ckpt, batch_size=8, use_trainer=True, device="cpu")
    )
    assert (summary.done, summary.failed) == (24, 0)
    assert _sizes(trainer).keys() == _sizes(direct).keys()
    for name in _sizes(direct):
        a = np.asarray(Image.open(direct / name), dtype=np.int16)
        b = np.asarray(Image.open(trainer / name), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, name


def test_channels_last_gives_the_float32_nchw_images(face_dir, tiny_ckpt, tmp_path):
    nchw, nhwc = tmp_path / "nchw", tmp_path / "nhwc"
    predict(_options(face_dir, nchw, tiny_ckpt))
    predict(_options(face_dir, nhwc, tiny_ckpt, channels_last=True))
    assert _sizes(nhwc).keys() == _sizes(nchw).keys()
    for name in _sizes(nchw):
        a = np.asarray(Image.open(nchw / name), dtype=np.int16)
        b = np.asarray(Image.open(nhwc / name), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, name


def test_photo_mode_restores_the_small_faces_and_leaves_the_rest_bicubic(
    tiny_ckpt, tmp_path, capsys
):
    summary = predict(_options(PHOTO, tmp_path, tiny_ckpt, mode="photo"))
    photo = Image.open(PHOTO).convert("RGB")
    result = np.asarray(Image.open(tmp_path / "photo.png"))
    assert result.shape == (photo.height * 4, photo.width * 4, 3)
    assert summary.done == 1 and 50 <= summary.faces <= 90
    assert summary.restored == summary.faces and summary.too_large == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]  # no extras
    err = capsys.readouterr().err
    assert f"photo.jpg: {summary.faces} faces found, restored {summary.faces}, left 0" in err
    bicubic = upscale(photo, 4)
    changed = np.any(result != bicubic, axis=2)
    assert 0.005 < changed.mean() < 0.2  # the faces, not the whole photo

    policy = predict(
        _options(
            PHOTO, tmp_path / "policy", tiny_ckpt, mode="photo", photo=PhotoOptions(max_face=11)
        )
    )
    assert policy.faces == summary.faces and policy.too_large > 0
    assert policy.restored + policy.too_large == policy.faces
    assert f"left {policy.too_large} larger than 11 px" in policy.line()


def test_photo_mode_writes_faces_and_cmp_only_on_request(tiny_ckpt, tmp_path):
    photo = PhotoOptions(save_faces=True)
    options = _options(PHOTO, tmp_path, tiny_ckpt, mode="photo", save_cmp=True, photo=photo)
    summary = predict(options)
    crops = _sizes(tmp_path / "faces")
    assert len(crops) == 2 * summary.restored
    assert crops["photo_0_lr.png"] == (16, 16) and crops["photo_0_sr.png"] == (64, 64)
    assert Image.open(tmp_path / "cmp" / "photo.png").size == (490 * 8, 353 * 4)


def test_output_equal_to_input_is_refused_unless_suffix(face_dir, tiny_ckpt, tmp_path, capsys):
    inputs = tmp_path / "in"
    shutil.copytree(face_dir / "sub", inputs)
    before = _bytes(inputs)
    assert _run_main([f"ckpt_path={tiny_ckpt}", f"input={inputs}", f"output={inputs}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: output ") and "is the input folder" in err
    assert err.count("\n") == 1
    assert _bytes(inputs) == before

    args = [f"ckpt_path={tiny_ckpt}", f"input={inputs}", f"output={inputs}", "suffix=_sr"]
    assert _run_main([*args, "progress=false", "precision=32"]) == 0
    after = _bytes(inputs)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {n.replace(".png", "_sr.png") for n in before}


def test_output_inside_input_skips_earlier_results(face_dir, tiny_ckpt, tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(face_dir / "sub", inputs)
    for _ in range(2):
        summary = predict(_options(inputs, inputs / "restored", tiny_ckpt))
        assert (summary.done, summary.failed) == (8, 0)
    assert not (inputs / "restored" / "restored").exists()


def test_bad_checkpoint_is_one_line_error(face_dir, tmp_path, capsys):
    code = _run_main([f"ckpt_path={tmp_path / 'missing.pt'}", f"input={face_dir}", "output=x"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: {tmp_path / 'missing.pt'}: no such checkpoint file\n"


def test_unwritable_output_fails_before_loading(face_dir, tmp_path):
    (tmp_path / "file").write_text("")
    options = _options(face_dir, tmp_path / "file" / "out", tmp_path / "missing.pt")
    with pytest.raises(UserError, match=r"out: (not writable|exists and is not a folder)"):
        predict(options)


def test_input_that_does_not_exist_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        inputs_module.collect_inputs(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="no images"):
        inputs_module.collect_inputs(str(tmp_path))


def test_single_file_and_glob_output_names(face_dir):
    first = sorted(face_dir.glob("*.png"))[0]
    single = inputs_module.collect_inputs(str(first))
    assert [i.rel for i in single.items] == [Path(first.stem)]
    globbed = inputs_module.collect_inputs(str(face_dir / "**" / "*.png"), recursive=True)
    assert {i.rel.as_posix() + ".png" for i in globbed.items} == _expected_names(face_dir)
    flat = inputs_module.collect_inputs(str(face_dir / "*.png"), recursive=False)
    assert len(flat.items) == 16


def test_same_output_name_is_reported_not_overwritten(face_dir, tiny_ckpt, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = sorted(face_dir.glob("*.png"))[0]
    shutil.copy(source, inputs / "a.png")
    Image.open(source).convert("RGB").save(inputs / "a.jpg")
    summary = predict(_options(inputs, tmp_path / "out", tiny_ckpt))
    assert (summary.done, summary.failed) == (1, 1)
    assert "a.png: same output name as" in capsys.readouterr().err


def test_outputs_never_write_over_an_input(face_dir):
    inputs = inputs_module.collect_inputs(str(face_dir / "sub"))
    guard = writers.Outputs(face_dir / "sub", "", inputs)
    victim = inputs.items[0].path
    before = victim.read_bytes()
    with pytest.raises(UserError, match="is an input file"):
        guard.save(np.zeros((64, 64, 3), np.uint8), guard.target(inputs.items[0].rel))
    assert victim.read_bytes() == before


def test_default_checkpoint_is_looked_up_in_package_assets(tiny_ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr(models.resources, "files", lambda package: tmp_path)
    with pytest.raises(UserError, match="pass ckpt_path="):
        models.load_model(None)
    (tmp_path / "assets").mkdir()
    shutil.copy(tiny_ckpt, tmp_path / "assets" / models.BUNDLED_RESTORER)
    assert models.load_model(None).source == "restorer"


def test_invalid_options_are_user_errors():
    with pytest.raises(UserError, match="mode must be"):
        PredictOptions(input="a", output="b", mode="video")
    with pytest.raises(UserError, match="precision must be"):
        PredictOptions(input="a", output="b", precision="16")
    with pytest.raises(UserError, match="batch_size must be a number, got 'many'"):
        PredictOptions(input="a", output="b", batch_size="many")
    with pytest.raises(UserError, match="channels_last must be auto, true or false"):
        PredictOptions(input="a", output="b", channels_last="sometimes")
    with pytest.raises(UserError, match=r"photo\.feather"):
        PhotoOptions(feather=0.9)
    with pytest.raises(UserError, match=r"photo\.detector must be one of yunet, haar"):
        PhotoOptions(detector="dlib")
    with pytest.raises(UserError, match=r"photo\.max_face=4 is below photo\.min_face=8"):
        PhotoOptions(max_face=4)


def test_hostile_inputs_are_reported_and_the_good_ones_restored(tiny_ckpt, tmp_path, capsys):
    from tests.test_data_hostile import BAD_FILES, hostile_folder

    folder = hostile_folder(tmp_path)
    before = _bytes(folder)
    out = tmp_path / "out"
    faces = FaceOptions(allow_downscale=True)  # the good files are 32 px
    summary = predict(_options(folder, out, tiny_ckpt, faces=faces))
    assert summary.done == 7
    assert summary.failed == len(BAD_FILES)
    report = capsys.readouterr()
    for name in BAD_FILES:
        assert name in report.out + report.err
    assert all(size == (64, 64) for size in _sizes(out).values())
    assert _bytes(folder) == before
