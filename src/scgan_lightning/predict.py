"""Restore faces with a trained restorer: folders of face crops, or small faces in whole photos.

``python -m scgan_lightning.predict ckpt_path=... input=... output=...`` (config
``conf/predict.yaml``). ``predict(PredictOptions(...))`` is the same job from Python, and
``restore_batch`` the one place a batch goes through the network.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import faces
from .checkpoints import LoadedRestorer, load_restorer
from .data.image_io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    list_images,
    read_rgb,
    resize,
    save_png,
    to_tensor,
    to_uint8,
)
from .errors import UserError

BUNDLED_CHECKPOINT = "scgan_faces_small.pt"
MODES = ("faces", "photo")
PRECISIONS = ("auto", "32", "bf16")
_GLOB_CHARS = frozenset("*?[")


def _coerce_numbers(options: Any, prefix: str) -> None:
    """Command-line values arrive as typed; a number field must hold a number."""
    for spec in fields(options):
        kind = {"int": int, "float": float}.get(str(spec.type))
        value = getattr(options, spec.name)
        if kind is None or (type(value) is kind):
            continue
        try:
            setattr(options, spec.name, kind(value))
        except (TypeError, ValueError):
            raise UserError(f"{prefix}{spec.name} must be a number, got {value!r}") from None


@dataclass
class PhotoOptions:
    """Whole-photo mode: which faces to restore and how to blend them back."""

    min_face: int = 12  # smallest face side the detector reports, in photo pixels
    margin: float = 0.25  # context added around each face, as a fraction of its size per side
    feather: float = 0.1  # soft blend band, as a fraction of the pasted face's side
    scale_factor: float = 1.1  # detector pyramid step
    min_neighbors: int = 5  # detector hits a face needs

    def __post_init__(self) -> None:
        _coerce_numbers(self, "photo.")
        if self.min_face < 1:
            raise UserError(f"photo.min_face must be at least 1, got {self.min_face}")
        if self.margin < 0:
            raise UserError(f"photo.margin must be >= 0, got {self.margin}")
        if not 0 <= self.feather <= 0.5:
            raise UserError(f"photo.feather must be in [0, 0.5], got {self.feather}")
        if self.scale_factor <= 1:
            raise UserError(f"photo.scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0:
            raise UserError(f"photo.min_neighbors must be >= 0, got {self.min_neighbors}")


@dataclass
class PredictOptions:
    """Everything a prediction job needs; field names match ``conf/predict.yaml``."""

    input: str
    output: str
    ckpt_path: str | None = None
    recursive: bool = True
    mode: str = "faces"
    batch_size: int = 16
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    save_cmp: bool = False
    suffix: str = ""
    hr_size: int = 64
    num_workers: int = 0
    progress: bool = True
    use_trainer: bool = False
    devices: int | str = 1
    photo: PhotoOptions = field(default_factory=PhotoOptions)

    def __post_init__(self) -> None:
        _coerce_numbers(self, "")
        self.precision = str(self.precision)
        self.suffix = str(self.suffix or "")
        if self.mode not in MODES:
            raise UserError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be auto, 32 or bf16, got {self.precision!r}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(self.device)):
            raise UserError(f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise UserError(f"num_workers must be >= 0, got {self.num_workers}")
        if os.sep in self.suffix or "/" in self.suffix:
            raise UserError(f"suffix must not contain a path separator, got {self.suffix!r}")
        if self.use_trainer and self.mode != "faces":
            raise UserError("use_trainer=true supports mode=faces only")

    @classmethod
    def from_config(cls, cfg: DictConfig) -> PredictOptions:
        """Options from the Hydra config, with one-line errors for missing values."""
        for key in ("input", "output"):
            if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, ""):
                raise UserError(f"{key}= is required (see conf/predict.yaml)")
        values: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        photo = values.pop("photo", None) or {}
        _check_keys(values, cls, "")
        _check_keys(photo, PhotoOptions, "photo.")
        values.update(input=str(values["input"]), output=str(values["output"]))
        return cls(**values, photo=PhotoOptions(**photo))


def _check_keys(values: dict[str, Any], options: type, prefix: str) -> None:
    unknown = sorted(set(values) - {f.name for f in fields(options)})
    if unknown:
        raise UserError(f"unknown config key {prefix}{unknown[0]} (see conf/predict.yaml)")


@dataclass
class Summary:
    """What a job did: images written, inputs that failed, faces found (photo mode)."""

    done: int = 0
    failed: int = 0
    faces: int = 0

    def line(self) -> str:
        extra = f", faces: {self.faces}" if self.faces else ""
        return f"done: {self.done}, failed: {self.failed}{extra}"


@dataclass(frozen=True)
class InputItem:
    """One input file and its output name: relative to the input root, without extension."""

    path: Path
    rel: Path


@dataclass
class InputSet:
    """The files a job reads and the folder their output names are relative to."""

    root: Path
    items: list[InputItem]


def _is_glob(spec: str) -> bool:
    return any(char in _GLOB_CHARS for char in spec)


def _glob_root(spec: str) -> Path:
    """The folder part of a glob before its first wildcard."""
    parts: list[str] = []
    for part in Path(spec).parts:
        if _is_glob(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def collect_inputs(spec: str, recursive: bool = True) -> InputSet:
    """A file, a folder (images under it) or a glob, as items with output names."""
    path = Path(spec).expanduser()
    if path.is_file():
        return InputSet(path.parent, [InputItem(path, Path(path.stem))])
    if path.is_dir():
        root, files = path, list_images(path, recursive)
        where = f"folder {path}"
    elif _is_glob(spec):
        root = _glob_root(str(path))
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=recursive))
        files = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        where = f"glob {spec}"
    else:
        raise UserError(f"input {spec}: no such file or folder")
    if not files:
        raise UserError(f"input {where}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
    return InputSet(root, [InputItem(p, p.relative_to(root).with_suffix("")) for p in files])


def _inside(path: Path, folder: Path) -> bool:
    return folder == path or folder in path.parents


class Outputs:
    """The output folder, output names, and the guard that no input file is written over."""

    def __init__(self, folder: Path, suffix: str, inputs: InputSet) -> None:
        self.folder = folder
        self.suffix = suffix
        self._protected = {item.path.resolve() for item in inputs.items}

    def target(self, rel: Path, subfolder: str = "", tag: str = "") -> Path:
        """``<output>/<subfolder>/<rel><suffix><tag>.png``."""
        base = self.folder / subfolder if subfolder else self.folder
        return base / rel.parent / f"{rel.name}{self.suffix}{tag}.png"

    def save(self, image: np.ndarray | Image.Image, target: Path) -> None:
        if target.resolve() in self._protected:
            raise UserError(f"{target}: is an input file, not overwritten")
        save_png(image, target)


def prepare_output(output: str, inputs: InputSet, suffix: str) -> Path:
    """Check the output folder before any work: not the input folder, creatable, writable."""
    folder = Path(output).expanduser()
    if folder.resolve() == inputs.root.resolve() and not suffix:
        raise UserError(
            f"output {folder} is the input folder; choose another output or set a suffix "
            "(e.g. suffix=_sr)"
        )
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(f"output {folder}: not writable ({err.strerror or err})") from None
    return folder


def exclude_outputs(inputs: InputSet, output: Path) -> InputSet:
    """Leave out files under an output folder nested inside the input folder (earlier results)."""
    out, root = output.resolve(), inputs.root.resolve()
    if out == root or not _inside(out, root):
        return inputs
    kept = [item for item in inputs.items if not _inside(item.path.resolve(), out)]
    if not kept:
        raise UserError(f"input {inputs.root}: no images outside the output folder {out}")
    return InputSet(inputs.root, kept)


def split_name_clashes(inputs: InputSet) -> tuple[InputSet, list[str]]:
    """Keep the first input per output name (``a.png``, ``a.jpg`` -> ``a``); report the rest."""
    first: dict[Path, Path] = {}
    kept, clashes = [], []
    for item in inputs.items:
        if item.rel in first:
            clashes.append(f"{item.path}: same output name as {first[item.rel]}, skipped")
        else:
            first[item.rel] = item.path
            kept.append(item)
    return InputSet(inputs.root, kept), clashes


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA GPU is available; use device=cpu or auto")
    return torch.device(name)


def load_model(ckpt_path: str | None) -> LoadedRestorer:
    """The given checkpoint, or the small one bundled in ``scgan_lightning/assets``."""
    if ckpt_path:
        return load_restorer(Path(ckpt_path).expanduser())
    bundled = resources.files("scgan_lightning").joinpath("assets", BUNDLED_CHECKPOINT)
    if not bundled.is_file():
        raise UserError(
            f"no ckpt_path given and the bundled checkpoint assets/{BUNDLED_CHECKPOINT} is not "
            "installed; pass ckpt_path=<.ckpt, restorer.pt or released pretrained_model.pth>"
        )
    with resources.as_file(bundled) as path:
        return load_restorer(path)


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: where bfloat16 convolutions beat float32 (elsewhere they are
    emulated and slower). Read from /proc/cpuinfo, so False off Linux."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 where the hardware runs it natively (outputs stay within ~60 dB PSNR of
    float32, docs/PERFORMANCE.md), else 32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "32"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "32"


def restore_batch(
    model: nn.Module, lr: torch.Tensor, precision: str = "32", channels_last: bool = False
) -> torch.Tensor:
    """SR for a batch of LR faces in [-1, 1], float32, on the model's device.

    ``bf16`` runs under autocast (convolutions in bfloat16, the rest in float32).
    ``channels_last`` hands the network NHWC input, to match a model converted to it.
    """
    device = next(model.parameters()).device
    lr = lr.to(device, non_blocking=True)
    if channels_last:
        lr = lr.contiguous(memory_format=torch.channels_last)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=str(precision) == "bf16"),
    ):
        return model(lr).float()


def side_by_side(left: Image.Image | np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left`` bicubic-resized to ``right``'s size, then both next to each other."""
    image = left if isinstance(left, Image.Image) else Image.fromarray(left)
    height, width = right.shape[:2]
    return np.hstack([np.asarray(resize(image, (width, height))), right])


class Report:
    """Counts results and prints one line per failure (the message names the file)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.summary = Summary()

    def ok(self) -> None:
        self.summary.done += 1

    def fail(self, message: str) -> None:
        self.summary.failed += 1
        self.console.print(f"failed: {message}")

    def note(self, message: str) -> None:
        self.console.print(message)


def make_console() -> Console:
    """stderr, no markup (file names may hold brackets), no wrapping (one line per message)."""
    return Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


def make_progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


class FaceFiles(Dataset):
    """Face crops read as RGB and resized (antialiased) to the model input size.

    An unreadable file yields its error message instead of a tensor, so one bad file does not
    stop a batch job.
    """

    def __init__(self, items: Sequence[InputItem], lr_size: int) -> None:
        self.items = list(items)
        self.lr_size = lr_size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.items[index].path
        try:
            lr = to_tensor(resize(read_rgb(path), self.lr_size))
        except ImageReadError as err:
            return {"index": index, "path": str(path), "lr": None, "error": str(err)}
        return {"index": index, "path": str(path), "lr": lr, "error": None}


def collate_faces(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A batch dict: ``lr`` (B,3,h,w), ``path`` and ``index`` of good files, ``errors``."""
    good = [s for s in samples if s["error"] is None]
    return {
        "lr": torch.stack([s["lr"] for s in good]) if good else torch.empty(0),
        "path": [s["path"] for s in good],
        "index": [s["index"] for s in good],
        "errors": [s["error"] for s in samples if s["error"] is not None],
    }


def face_loader(
    items: Sequence[InputItem], lr_size: int, batch_size: int, num_workers: int
) -> DataLoader:
    return DataLoader(
        FaceFiles(items, lr_size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_faces,
    )


class FaceWriter:
    """Writes each restored face (and its comparison image) and reports the outcome."""

    def __init__(
        self, items: Sequence[InputItem], outputs: Outputs, report: Report, save_cmp: bool
    ) -> None:
        self.items = list(items)
        self.outputs = outputs
        self.report = report
        self.save_cmp = save_cmp

    def write_batch(self, batch: dict[str, Any], sr: torch.Tensor) -> None:
        for message in batch["errors"]:
            self.report.fail(message)
        for row, index in enumerate(batch["index"]):
            item = self.items[index]
            try:
                restored = to_uint8(sr[row])
                self.outputs.save(restored, self.outputs.target(item.rel))
                if self.save_cmp:
                    cmp = side_by_side(to_uint8(batch["lr"][row]), restored)
                    self.outputs.save(cmp, self.outputs.target(item.rel, "cmp"))
            except (UserError, OSError) as err:
                self.report.fail(f"{item.path}: not written ({err})")
                continue
            self.report.ok()


def run_faces(
    model: nn.Module,
    items: Sequence[InputItem],
    writer: FaceWriter,
    options: PredictOptions,
    lr_size: int,
    progress: Progress,
) -> None:
    """Face crops in, restored faces out, batch by batch."""
    task = progress.add_task("restoring faces", total=len(items))
    for batch in face_loader(items, lr_size, options.batch_size, options.num_workers):
        sr = (
            restore_batch(model, batch["lr"], options.precision, options.channels_last)
            if batch["index"]
            else None
        )
        writer.write_batch(batch, sr)
        progress.advance(task, len(batch["index"]) + len(batch["errors"]))


class PhotoFiles(Dataset):
    """Photos with their detected faces, cropped square and resized to the model input."""

    def __init__(self, items: Sequence[InputItem], lr_size: int, photo: PhotoOptions) -> None:
        self.items = list(items)
        self.lr_size = lr_size
        self.photo = photo

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.items[index].path
        try:
            image = read_rgb(path)
        except ImageReadError as err:
            return {"index": index, "error": str(err)}
        opts = self.photo
        boxes = faces.detect_faces(image, opts.min_face, opts.scale_factor, opts.min_neighbors)
        crops = faces.crop_faces(image, boxes, opts.margin)
        lr = [to_tensor(resize(crop.image, self.lr_size)) for crop in crops]
        return {
            "index": index,
            "error": None,
            "photo": np.asarray(image),
            "boxes": [crop.box for crop in crops],
            "lr": torch.stack(lr) if lr else torch.empty(0, 3, self.lr_size, self.lr_size),
        }


def _one_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """Photos are not batched (sizes differ); their faces are."""
    return sample


class PhotoWriter:
    """Pastes restored faces into the upscaled photo, writes it and the face crops, reports."""

    def __init__(
        self,
        items: Sequence[InputItem],
        outputs: Outputs,
        report: Report,
        options: PredictOptions,
        scale: int,
    ) -> None:
        self.items = list(items)
        self.outputs = outputs
        self.report = report
        self.options = options
        self.scale = scale

    def write(self, sample: dict[str, Any], sr: torch.Tensor) -> None:
        item = self.items[sample["index"]]
        try:
            self._save(item, sample, sr)
        except (UserError, OSError) as err:
            self.report.fail(f"{item.path}: not written ({err})")
            return
        count = len(sample["boxes"])
        self.report.summary.faces += count
        self.report.note(f"{item.path}: {count} face{'' if count == 1 else 's'} restored")
        self.report.ok()

    def _save(self, item: InputItem, sample: dict[str, Any], sr: torch.Tensor) -> None:
        photo, out = Image.fromarray(sample["photo"]), self.outputs
        upscaled = resize(photo, (photo.width * self.scale, photo.height * self.scale))
        restored = [to_uint8(face) for face in sr]
        feather = self.options.photo.feather
        result = faces.paste_faces(upscaled, restored, sample["boxes"], self.scale, feather)
        out.save(result, out.target(item.rel))
        if self.options.save_cmp:
            out.save(np.hstack([np.asarray(upscaled), result]), out.target(item.rel, "cmp"))
        for k, (lr, face) in enumerate(zip(sample["lr"], restored, strict=True)):
            out.save(to_uint8(lr), out.target(item.rel, "faces", f"_{k}_lr"))
            out.save(face, out.target(item.rel, "faces", f"_{k}_sr"))


def run_photos(
    model: nn.Module,
    items: Sequence[InputItem],
    writer: PhotoWriter,
    options: PredictOptions,
    lr_size: int,
    progress: Progress,
) -> None:
    """Photos in; each written ``scale`` times larger with its detected faces restored."""
    faces.face_detector()  # OpenCV missing: fail before any work
    task = progress.add_task("restoring photos", total=len(items))
    loader = DataLoader(
        PhotoFiles(items, lr_size, options.photo),
        batch_size=None,
        num_workers=options.num_workers,
        collate_fn=_one_sample,
    )
    for sample in loader:
        progress.advance(task)
        if sample["error"]:
            writer.report.fail(sample["error"])
            continue
        parts = sample["lr"].split(options.batch_size)
        sr = [
            restore_batch(model, part, options.precision, options.channels_last).cpu()
            for part in parts
        ]
        writer.write(sample, torch.cat(sr) if sr else sample["lr"])


def predict(
    options: PredictOptions,
    loaded: LoadedRestorer | None = None,
    console: Console | None = None,
) -> Summary:
    """The whole job: check input and output, load the model (unless given), restore, report.

    Unreadable inputs are reported and skipped; problems with the job itself (no input, an
    output that cannot be written, a bad checkpoint) raise ``UserError`` before any work.
    """
    inputs = collect_inputs(options.input, options.recursive)
    folder = prepare_output(options.output, inputs, options.suffix)
    inputs, clashes = split_name_clashes(exclude_outputs(inputs, folder))
    outputs = Outputs(folder, options.suffix, inputs)
    loaded = loaded or load_model(options.ckpt_path)
    if options.hr_size % loaded.scale:
        raise UserError(f"hr_size={options.hr_size} is not a multiple of the scale {loaded.scale}")
    lr_size = options.hr_size // loaded.scale
    report = Report(console or make_console())
    for message in clashes:
        report.fail(message)
    device = resolve_device(options.device)
    options = replace(options, precision=resolve_precision(options.precision, device))
    if options.use_trainer:
        from .predict_lightning import predict_with_trainer

        writer = FaceWriter(inputs.items, outputs, report, options.save_cmp)
        return predict_with_trainer(loaded.model, inputs.items, writer, options, lr_size)

    model = loaded.model.to(device).eval()
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    with make_progress(report.console, options.progress) as progress:
        if options.mode == "photo":
            writer = PhotoWriter(inputs.items, outputs, report, options, loaded.scale)
            run_photos(model, inputs.items, writer, options, lr_size, progress)
        else:
            writer = FaceWriter(inputs.items, outputs, report, options.save_cmp)
            run_faces(model, inputs.items, writer, options, lr_size, progress)
    return report.summary


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Console entry: exit 2 with ``error: ...`` on a job problem, 1 if any input failed."""
    try:
        summary = predict(PredictOptions.from_config(cfg))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(summary.line())
    if summary.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
