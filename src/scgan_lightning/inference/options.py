"""Everything a prediction job needs, checked once: field names match ``conf/predict.yaml``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import UserError
from .detect import DETECTORS

MODES = ("faces", "photo")
PRECISIONS = ("auto", "32", "bf16")


def _coerce_numbers(options: Any, prefix: str) -> None:
    """Command-line values arrive as typed; a number field must hold a number."""
    for spec in fields(options):
        kind = {"int": int, "float": float}.get(str(spec.type))
        value = getattr(options, spec.name)
        if kind is None or type(value) is kind:
            continue
        try:
            setattr(options, spec.name, kind(value))
        except (TypeError, ValueError):
            raise UserError(f"{prefix}{spec.name} must be a number, got {value!r}") from None


@dataclass
class FaceOptions:
    """Face mode: what to do with a crop larger than the model's input."""

    allow_downscale: bool = False  # shrink larger crops to the input size instead of skipping


@dataclass
class PhotoOptions:
    """Photo mode: which faces to restore and how to blend them back."""

    detector: str = "yunet"  # yunet (finds faces from ~10 px) | haar (OpenCV's cascade)
    min_face: int = 8  # smallest face side reported, in photo pixels
    max_face: int = 18  # larger faces keep the background upsample (docs/INFERENCE.md)
    margin: float = 0.0  # context added around each face box, fraction of its side per side
    feather: float = 0.1  # soft blend band, fraction of the pasted face's side
    save_faces: bool = False  # also write faces/<name>_<k>_lr.png and _sr.png

    def __post_init__(self) -> None:
        _coerce_numbers(self, "photo.")
        if self.detector not in DETECTORS:
            raise UserError(
                f"photo.detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}"
            )
        if self.min_face < 1:
            raise UserError(f"photo.min_face must be at least 1, got {self.min_face}")
        if self.max_face < self.min_face:
            raise UserError(
                f"photo.max_face={self.max_face} is below photo.min_face={self.min_face}"
            )
        if self.margin < 0:
            raise UserError(f"photo.margin must be >= 0, got {self.margin}")
        if not 0 <= self.feather <= 0.5:
            raise UserError(f"photo.feather must be in [0, 0.5], got {self.feather}")


def _flag(value: Any, name: str, allow_auto: bool = False) -> bool | str:
    if allow_auto and str(value).lower() == "auto":
        return "auto"
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    choices = "auto, true or false" if allow_auto else "true or false"
    raise UserError(f"{name} must be {choices}, got {value!r}")


@dataclass
class PredictOptions:
    """A prediction job. ``precision`` and ``channels_last`` "auto": chosen by measurement."""

    input: str
    output: str
    ckpt_path: str | None = None
    recursive: bool = True
    mode: str = "faces"
    batch_size: int = 16
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | str = "auto"
    save_cmp: bool = False
    suffix: str = ""
    hr_size: int = 64
    num_workers: int = 0
    progress: bool = True
    use_trainer: bool = False
    devices: int | str = 1
    faces: FaceOptions = field(default_factory=FaceOptions)
    photo: PhotoOptions = field(default_factory=PhotoOptions)

    def __post_init__(self) -> None:
        _coerce_numbers(self, "")
        self.precision = str(self.precision)
        self.suffix = str(self.suffix or "")
        self.channels_last = _flag(self.channels_last, "channels_last", allow_auto=True)
        self.faces.allow_downscale = bool(
            _flag(self.faces.allow_downscale, "faces.allow_downscale")
        )
        self.photo.save_faces = bool(_flag(self.photo.save_faces, "photo.save_faces"))
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


# The option groups of a job, as in conf/predict.yaml.
GROUPS = {"faces": FaceOptions, "photo": PhotoOptions}


def option_keys() -> list[str]:
    """Every key of ``conf/predict.yaml``, dotted (``photo.max_face``): the fields of the
    options, the one list a command line is checked against."""
    keys = [f.name for f in fields(PredictOptions)]
    return keys + [f"{group}.{f.name}" for group, kind in GROUPS.items() for f in fields(kind)]
