"""ONNX and TorchScript exports compute what the PyTorch restorer computes, at any batch size."""

from __future__ import annotations

import sys
import warnings

import pytest
import torch

from scgan_lightning.checkpoints import save_restorer
from scgan_lightning.cli.export import main
from scgan_lightning.errors import UserError
from scgan_lightning.inference.export import export_restorer
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Restorer, dict]:
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = Restorer(width=0.125)
    # Non-trivial BatchNorm statistics, so a wrong train/eval mode in the export would show.
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 16, 16))
    model.eval()
    ckpt = folder / "restorer.pt"
    save_restorer(ckpt, model, restorer_spec(0.125), {}, ema=False)
    paths = export_restorer(ckpt, folder / "out")
    return model, {"ckpt": ckpt, **paths}


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_matches_pytorch_with_a_dynamic_batch(exported, batch: int) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, paths = exported
    session = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["lr"]
    lr = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(batch)) * 2 - 1
    (sr,) = session.run(None, {"lr": lr.numpy()})
    with torch.no_grad():
        expected = model(lr)
    assert sr.shape == (batch, 3, 64, 64)
    torch.testing.assert_close(torch.from_numpy(sr), expected, atol=1e-4, rtol=0)


def test_torchscript_matches_pytorch(exported) -> None:
    model, paths = exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        traced = torch.jit.load(str(paths["torchscript"]))
    lr = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(traced(lr), model(lr), atol=1e-6, rtol=0)


def test_existing_files_and_the_input_checkpoint_are_never_overwritten(exported, tmp_path) -> None:
    _, paths = exported
    out = paths["onnx"].parent
    before = paths["torchscript"].read_bytes()
    with pytest.raises(UserError, match=r"restorer\.onnx: already exists .*overwrite=true"):
        export_restorer(paths["ckpt"], out)
    assert paths["torchscript"].read_bytes() == before

    ts_copy = tmp_path / "restorer.ts"
    ts_copy.write_bytes(paths["ckpt"].read_bytes())
    with pytest.raises(UserError, match="refusing to overwrite the input checkpoint"):
        export_restorer(ts_copy, tmp_path, formats=["torchscript"], overwrite=True)

    written = export_restorer(paths["ckpt"], out, formats=["torchscript"], overwrite=True)
    assert written == {"torchscript": paths["torchscript"]}
    assert not list(out.glob(".*partial"))


def test_bad_requests_are_one_line_errors(exported, tmp_path, monkeypatch, capsys) -> None:
    _, paths = exported
    with pytest.raises(UserError, match="formats=\\['tflite'\\]"):
        export_restorer(paths["ckpt"], tmp_path, formats=["tflite"])
    with pytest.raises(UserError, match="hr_size=30 must be a positive multiple"):
        export_restorer(paths["ckpt"], tmp_path, hr_size=30)

    missing = tmp_path / "missing.pt"
    monkeypatch.setattr(
        sys, "argv", ["scgan-export", f"ckpt_path={missing}", f"output_dir={tmp_path}"]
    )
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {missing}: no such checkpoint file"
    ]


def test_export_defaults_to_the_bundled_restorer(tmp_path) -> None:
    paths = export_restorer(None, tmp_path, formats=["torchscript"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.load(str(paths["torchscript"]))
    assert traced(torch.zeros(2, 3, 16, 16)).shape == (2, 3, 64, 64)
