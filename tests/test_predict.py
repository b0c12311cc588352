"""Prediction: face folders, whole photos, the released checkpoint, the CLI and bad input."""

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

from scgan_lightning import faces, predict
from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.data.image_io import resize
from scgan_lightning.errors import UserError
from scgan_lightning.nets import Restorer
from scgan_lightning.predict import PredictOptions, restore_batch
from tests.golden_weights import golden, released_state_dict

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LR_FACES = SHARED / "data" / "faces_lr_real"
PHOTO = SHARED / "data" / "photos" / "8.jpg"  # 490x353, the cascade finds 4 faces at 12 px
CONF = Path(predict.__file__).parent / "conf"

needs_shared = pytest.mark.skipif(
    not LR_FACES.is_dir(), reason=f"shared face data not found at {SHARED / 'data'}"
)


def _sizes(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): Image.open(p).size for p in folder.rglob("*.png")}


def _bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _options(input_path: Path, output: Path, ckpt: Path | None, **kw) -> PredictOptions:
    return PredictOptions(
        input=str(input_path),
        output=str(output),
        ckpt_path=str(ckpt) if ckpt else None,
        progress=False,
        **kw,
    )


def _run_main(overrides: list[str]) -> int:
    """The Hydra entry point in-process; returns its exit code."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("predict", overrides=overrides)
    try:
        predict.main.__wrapped__(cfg)
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


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "restorer.pt"
    torch.manual_seed(0)
    config = {"width": 0.125, "scale": 4, "hr_size": 64}
    save_restorer(path, Restorer(width=0.125), config, ema=False)
    return path


@pytest.fixture(scope="module")
def released_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("released") / "pretrained_model.pth"
    torch.save({"G_l2h": released_state_dict("restorer", "G_RLS")}, path)
    return path


@pytest.fixture(scope="module")
def face_dir(tmp_path_factory) -> Path:
    """24 real 16x16 LR faces: 16 at the top, 8 in ``sub/``."""
    if not LR_FACES.is_dir():
        pytest.skip(f"shared face data not found at {LR_FACES}")
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
    summary = predict.predict(_options(face_dir, out, tiny_ckpt, batch_size=10, save_cmp=True))
    assert (summary.done, summary.failed) == (24, 0)
    sizes = _sizes(out)
    names = _expected_names(face_dir)
    assert {n for n in sizes if not n.startswith("cmp/")} == names
    assert {n for n, s in sizes.items() if s == (64, 64)} == names
    assert {n[4:] for n, s in sizes.items() if n.startswith("cmp/") and s == (128, 64)} == names
    assert all(Image.open(out / n).mode == "RGB" for n in names)


def test_cli_reports_bad_files_writes_the_rest_and_exits_1(face_dir, tiny_ckpt, tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(face_dir, inputs)
    good_png = next(inputs.glob("*.png")).read_bytes()
    (inputs / "corrupt.png").write_bytes(good_png[: len(good_png) // 2])
    (inputs / "notes.jpg").write_text("not an image")
    before = _bytes(inputs)
    reference = tmp_path / "reference"
    predict.predict(_options(face_dir, reference, tiny_ckpt))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scgan_lightning.predict",
            f"ckpt_path={tiny_ckpt}",
            "input=in",
            "output=out",
            "batch_size=8",
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


def test_released_checkpoint_matches_golden_outputs(released_ckpt):
    loaded = load_restorer(released_ckpt)
    data = golden("restorer_eval.pt")
    out = restore_batch(loaded.model, data["input_bgr"].flip(1))
    assert loaded.source == "released"
    assert out.dtype == torch.float32
    assert (out - data["output_bgr"].flip(1)).abs().max().item() < 1e-4
    out_bf16 = restore_batch(loaded.model, data["input_bgr"].flip(1), "bf16")
    assert out_bf16.dtype == torch.float32
    assert (out_bf16 - out).abs().mean().item() < 0.02


@needs_shared
def test_released_checkpoint_restores_real_faces(released_ckpt, face_dir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in sorted(face_dir.glob("*.png"))[:2]:
        shutil.copy(path, inputs / path.name)
    summary = predict.predict(_options(inputs, tmp_path / "out", released_ckpt))
    assert summary.done == 2
    assert set(_sizes(tmp_path / "out").values()) == {(64, 64)}


def test_trainer_path_writes_the_same_images(face_dir, tiny_ckpt, tmp_path):
    direct, trainer = tmp_path / "direct", tmp_path / "trainer"
    predict.predict(_options(face_dir, direct, tiny_ckpt, batch_size=8))
    summary = predict.predict(
        _options(face_dir, trainer, tiny_ckpt, batch_size=8, use_trainer=True, device="cpu")
    )
    assert (summary.done, summary.failed) == (24, 0)
    assert _sizes(trainer).keys() == _sizes(direct).keys()
    for name in _sizes(direct):
        a = np.asarray(Image.open(direct / name), dtype=np.int16)
        b = np.asarray(Image.open(trainer / name), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, name


def test_channels_last_default_gives_the_float32_nchw_images(face_dir, tiny_ckpt, tmp_path):
    nchw, nhwc = tmp_path / "nchw", tmp_path / "nhwc"
    predict.predict(_options(face_dir, nchw, tiny_ckpt, precision="32", channels_last=False))
    predict.predict(_options(face_dir, nhwc, tiny_ckpt, precision="32"))
    assert _sizes(nhwc).keys() == _sizes(nchw).keys()
    for name in _sizes(nchw):
        a = np.asarray(Image.open(nchw / name), dtype=np.int16)
        b = np.asarray(Image.open(nhwc / name), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, name


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    assert predict.resolve_precision("32", cpu) == "32"
    assert predict.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: True)
    assert predict.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)
    assert predict.resolve_precision("auto", cpu) == "32"


@pytest.mark.skipif(not PHOTO.is_file(), reason=f"shared photo not found at {PHOTO}")
def test_photo_mode_upscales_4x_and_restores_detected_faces(tiny_ckpt, tmp_path, capsys):
    summary = predict.predict(_options(PHOTO, tmp_path, tiny_ckpt, mode="photo"))
    photo = Image.open(PHOTO).convert("RGB")
    result = Image.open(tmp_path / "8.png")
    assert result.size == (photo.width * 4, photo.height * 4)
    assert summary.done == 1 and summary.faces > 0
    crops = _sizes(tmp_path / "faces")
    assert len(crops) == 2 * summary.faces
    assert crops["8_0_lr.png"] == (16, 16) and crops["8_0_sr.png"] == (64, 64)
    assert f"8.jpg: {summary.faces} faces restored" in capsys.readouterr().err
    # Away from the faces the photo is the plain bicubic upscale.
    boxes = faces.crop_faces(photo, faces.detect_faces(photo), 0.25)
    untouched = np.ones((result.height, result.width), dtype=bool)
    for box, _ in boxes:
        untouched[box.y * 4 : (box.y + box.h) * 4, box.x * 4 : (box.x + box.w) * 4] = False
    bicubic = np.asarray(resize(photo, result.size))
    assert np.array_equal(np.asarray(result)[untouched], bicubic[untouched])
    assert not np.array_equal(np.asarray(result)[~untouched], bicubic[~untouched])


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
    assert _run_main([*args, "progress=false"]) == 0
    after = _bytes(inputs)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {n.replace(".png", "_sr.png") for n in before}


def test_output_inside_input_skips_earlier_results(face_dir, tiny_ckpt, tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(face_dir / "sub", inputs)
    for _ in range(2):
        summary = predict.predict(_options(inputs, inputs / "restored", tiny_ckpt))
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
        predict.predict(options)


def test_input_that_does_not_exist_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        predict.collect_inputs(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="no images"):
        predict.collect_inputs(str(tmp_path))


def test_single_file_and_glob_output_names(face_dir):
    first = sorted(face_dir.glob("*.png"))[0]
    single = predict.collect_inputs(str(first))
    assert [i.rel for i in single.items] == [Path(first.stem)]
    globbed = predict.collect_inputs(str(face_dir / "**" / "*.png"), recursive=True)
    assert {i.rel.as_posix() + ".png" for i in globbed.items} == _expected_names(face_dir)
    flat = predict.collect_inputs(str(face_dir / "*.png"), recursive=False)
    assert len(flat.items) == 16


def test_same_output_name_is_reported_not_overwritten(face_dir, tiny_ckpt, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = sorted(face_dir.glob("*.png"))[0]
    shutil.copy(source, inputs / "a.png")
    Image.open(source).convert("RGB").save(inputs / "a.jpg")
    summary = predict.predict(_options(inputs, tmp_path / "out", tiny_ckpt))
    assert (summary.done, summary.failed) == (1, 1)
    assert "a.png: same output name as" in capsys.readouterr().err


def test_outputs_never_write_over_an_input(face_dir, tmp_path):
    inputs = predict.collect_inputs(str(face_dir / "sub"))
    guard = predict.Outputs(face_dir / "sub", "", inputs)
    victim = inputs.items[0].path
    before = victim.read_bytes()
    with pytest.raises(UserError, match="is an input file"):
        guard.save(np.zeros((64, 64, 3), np.uint8), guard.target(inputs.items[0].rel))
    assert victim.read_bytes() == before


def test_default_checkpoint_is_looked_up_in_package_assets(tiny_ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr(predict.resources, "files", lambda package: tmp_path)
    with pytest.raises(UserError, match="pass ckpt_path="):
        predict.load_model(None)
    (tmp_path / "assets").mkdir()
    shutil.copy(tiny_ckpt, tmp_path / "assets" / predict.BUNDLED_CHECKPOINT)
    assert predict.load_model(None).source == "restorer"


def test_invalid_options_are_user_errors():
    with pytest.raises(UserError, match="mode must be"):
        PredictOptions(input="a", output="b", mode="video")
    with pytest.raises(UserError, match="precision must be"):
        PredictOptions(input="a", output="b", precision="16")
    with pytest.raises(UserError, match="batch_size must be a number, got 'many'"):
        PredictOptions(input="a", output="b", batch_size="many")
    with pytest.raises(UserError, match=r"photo\.feather"):
        predict.PhotoOptions(feather=0.9)


def test_square_box_is_square_and_inside_the_image():
    box = faces.square_box(faces.Box(2, 90, 20, 16), margin=0.25, width=100, height=100)
    assert box.w == box.h == 30
    assert box.x == 0 and box.y == 70  # shifted inward, not cut
    # Larger than the photo: shrunk to its height, still centred on the face where possible.
    assert faces.square_box(faces.Box(0, 0, 80, 80), 0.5, 100, 60) == faces.Box(10, 0, 60, 60)


def test_paste_faces_blends_only_inside_the_box():
    photo = np.full((40, 40, 3), 10, np.uint8)
    face = np.full((8, 8, 3), 250, np.uint8)
    hard = faces.paste_faces(photo, [face], [faces.Box(2, 3, 4, 4)], scale=2, feather=0.0)
    assert (hard[6:14, 4:12] == 250).all()
    hard[6:14, 4:12] = 10
    assert (hard == 10).all()
    soft = faces.paste_faces(photo, [face], [faces.Box(2, 3, 4, 4)], scale=2, feather=0.5)
    assert soft[10, 8, 0] > soft[6, 4, 0] > 10  # centre near the face, edge blended
    assert (photo == 10).all()  # input untouched


def test_missing_opencv_gives_install_hint(monkeypatch):
    faces.face_detector.cache_clear()
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(UserError, match=r"scgan_lightning\[faces\]"):
        faces.detect_faces(np.zeros((20, 20, 3), np.uint8))
    faces.face_detector.cache_clear()


def test_hostile_inputs_are_reported_and_the_good_ones_restored(tiny_ckpt, tmp_path, capsys):
    from tests.test_data_hostile import BAD_FILES, hostile_folder

    folder = hostile_folder(tmp_path)
    before = _bytes(folder)
    out = tmp_path / "out"
    summary = predict.predict(_options(folder, out, tiny_ckpt))
    assert summary.done == 7
    assert summary.failed == len(BAD_FILES)
    report = capsys.readouterr()
    for name in BAD_FILES:
        assert name in report.out + report.err
    assert all(size == (64, 64) for size in _sizes(out).values())
    assert _bytes(folder) == before
