"""Export a restorer to ONNX and TorchScript for serving without this package.

``restorer.onnx`` (input ``lr``, output ``sr``, dynamic batch axis) and ``restorer.ts``
(``torch.jit.trace``). Inputs are RGB in [-1, 1], (N, 3, hr_size/scale, hr_size/scale).
``python -m scgan_lightning.export`` is the command over ``export_restorer``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..atomic import write_bytes
from ..errors import UserError
from .restorer import FaceRestorer

FILENAMES = {"onnx": "restorer.onnx", "torchscript": "restorer.ts"}
# Opset 17 runs on every onnxruntime of the last years and has every op the restorer uses.
DEFAULT_OPSET = 17


def _onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int) -> memoryview:
    # The TorchScript-based exporter (dynamo=False) runs offline with onnx alone; the
    # torch.export-based default also needs onnxscript. Its deprecation notice is silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        buffer = io.BytesIO()
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_axes={"lr": {0: "batch"}, "sr": {0: "batch"}},
        )
    return buffer.getbuffer()


def _torchscript_bytes(model: nn.Module, example: torch.Tensor) -> memoryview:
    # torch.jit is deprecated in favour of torch.export, but .ts files remain the format C++
    # (libtorch) and older servers load; its FutureWarnings are silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getbuffer()


def _targets(
    ckpt_path: Path | None, output_dir: Path, formats: Sequence[str], overwrite: bool
) -> dict[str, Path]:
    unknown = sorted(set(formats) - set(FILENAMES))
    if unknown or not formats:
        raise UserError(f"formats={list(formats)}: choose from {sorted(FILENAMES)}")
    targets = {kind: output_dir / FILENAMES[kind] for kind in dict.fromkeys(formats)}
    if "onnx" in targets and importlib.util.find_spec("onnx") is None:
        raise UserError(
            "ONNX export needs the onnx package (pip install 'scgan_lightning[onnx]'), "
            "or export formats=[torchscript] only"
        )
    for path in targets.values():
        if ckpt_path and path.resolve() == ckpt_path.resolve():
            raise UserError(f"{path}: refusing to overwrite the input checkpoint")
        if path.exists() and not overwrite:
            raise UserError(f"{path}: already exists (pass overwrite=true to replace it)")
    return targets


def export_restorer(
    ckpt_path: str | os.PathLike | None,
    output_dir: str | os.PathLike,
    *,
    formats: Sequence[str] = ("onnx", "torchscript"),
    hr_size: int = 64,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Export the restorer of ``ckpt_path`` (any file ``FaceRestorer.from_checkpoint`` reads;
    None: the bundled restorer); paths by format.

    Every target is checked before anything is written; each file is written atomically
    (``atomic.write_bytes``), so an interrupted export leaves no half-written model behind.
    """
    ckpt = Path(ckpt_path).expanduser() if ckpt_path else None
    folder = Path(output_dir).expanduser()
    targets = _targets(ckpt, folder, formats, overwrite)
    restorer = FaceRestorer.from_checkpoint(ckpt, "cpu", "32", channels_last=False, hr_size=hr_size)
    model = restorer.model
    example = torch.zeros(1, 3, restorer.lr_size, restorer.lr_size)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{folder}: cannot create the output folder ({err.strerror})") from None
    for kind, path in targets.items():
        if kind == "onnx":
            write_bytes(path, _onnx_bytes(model, example, opset))
        else:
            write_bytes(path, _torchscript_bytes(model, example))
    return targets
