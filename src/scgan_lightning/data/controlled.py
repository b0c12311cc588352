"""The controlled unpaired face set: SCGAN's claim made measurable (AIM 2019 / NTIRE 2020 Track 1).

From one pool of clean HR faces, split by file and deterministically:

- ``hr/``: half of the faces, clean, ``hr_size`` square: the HR domain;
- ``lr/``: the other half, degraded by a chain the method is not told: the "real" LR domain,
  disjoint from ``hr/``;
- ``val/hr`` + ``val/lr``: held-out faces and their degraded LR, paired by file name, the
  ground truth that real LR faces lack.

With a content shift (``data/content``: framing, pose, light, greyscale) the LR half and the
validation pairs come from another population than the HR half: its selections draw them from
the pool, its steps change each face before the degradation, and ``val/hr`` holds the shifted
faces (the ground truth of that population). ``lr_clean/`` keeps the LR half's shifted faces
before degradation: the oracle's training pairs, never read by SCGAN.

``controlled_set.json`` records what built the set; it is written last, so a set without it
is incomplete. A folder that holds anything else is never written into.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..imaging import ImageReadError, list_images, read_face, save_png, to_uint8
from .content import describe_shift, selections, shift_images
from .degradation import Degradation, degrade_images, describe, image_seed

MANIFEST = "controlled_set.json"
PARTS = ("hr", "lr", "val/hr", "val/lr")
CLEAN_LR_PART = "lr_clean"


@dataclass(frozen=True)
class ControlledSplit:
    """Which source files go where; the three parts are disjoint."""

    hr: list[Path]
    lr: list[Path]
    val: list[Path]


def split_faces(
    files: Sequence[Path], val_count: int, seed: int, val_files: Sequence[Path] = ()
) -> ControlledSplit:
    """Order files by a hash of (seed, name), so the split is fixed by the names alone;
    the first ``val_count`` are validation (unless ``val_files`` are given), the rest
    alternate between the HR and the LR half."""
    ordered = sorted(files, key=lambda p: (image_seed(seed, p.name), p.name))
    if val_files:
        val, rest = list(val_files), ordered
    else:
        if val_count >= len(ordered) - 1:
            raise UserError(
                f"val_count={val_count} leaves fewer than 2 of the {len(ordered)} faces to train on"
            )
        val, rest = ordered[:val_count], ordered[val_count:]
    return ControlledSplit(hr=sorted(rest[0::2]), lr=sorted(rest[1::2]), val=sorted(val))


@dataclass
class SetSummary:
    """What a build wrote and which files it could not use (a batch job goes on past them)."""

    folder: Path
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        counts = ", ".join(f"{n} {part}" for part, n in self.counts.items())
        return f"{self.folder}: {counts}; {len(self.failures)} file(s) skipped"


def set_name(path: Path) -> str:
    """A face's file name in the set: PNG, keeping the source's extension in the name when it
    was not PNG, so that ``7.png`` and ``7.jpg`` of one folder stay two faces."""
    suffix = path.suffix.lower()
    return f"{path.stem}.png" if suffix == ".png" else f"{path.stem}_{suffix[1:]}.png"


def read_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a complete set, or None where there is none."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable manifest ({err})") from None


def build_controlled_set(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    degradation: Degradation,
    recipe: dict[str, Any],
    *,
    hr_size: int = 64,
    scale: int = 4,
    val_count: int = 400,
    seed: int = 0,
    val_sources: Sequence[str | os.PathLike] = (),
    batch: int = 64,
    content_shift: Callable | None = None,
) -> SetSummary:
    """Build the set into ``out`` (a new or empty folder), or do nothing if ``out`` already
    holds the set this ``recipe`` describes. ``recipe`` (the degradation's config and anything
    else that defines the set) is stored in the manifest and compared on the next call."""
    out = Path(out)
    wanted = {
        "recipe": recipe,
        "hr_size": hr_size,
        "scale": scale,
        "seed": seed,
        "val_count": val_count,
    }
    existing = read_manifest(out)
    if existing is not None:
        if {k: existing.get(k) for k in wanted} == wanted:
            return SetSummary(out, existing.get("counts", {}))
        raise UserError(
            f"{out}: holds a controlled set built differently ({MANIFEST}); "
            "choose another folder or remove it"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not an empty folder; choose a new one")
    split = split_faces(
        _faces(sources), val_count, seed, _faces(val_sources) if val_sources else ()
    )
    staging = out.with_name(f".{out.name}.building")
    shutil.rmtree(staging, ignore_errors=True)  # a build killed half way; ours by its name
    summary = SetSummary(out)
    hr_half = _read_faces(split.hr, hr_size, summary)
    lr_half = _read_faces(split.lr, hr_size, summary)
    val = _read_faces(split.val, hr_size, summary)
    if content_shift is not None:
        hr_half, lr_half, val = _shift_population(content_shift, hr_half, lr_half, val, seed)
        _write_clean(staging / CLEAN_LR_PART, lr_half)
    _write_clean(staging / "hr", hr_half)
    _write_clean(staging / "val/hr", val)
    _write_degraded(staging / "lr", lr_half, degradation, "lr", scale, seed, batch)
    _write_degraded(staging / "val/lr", val, degradation, "val", scale, seed, batch)
    summary.counts = {"hr": len(hr_half), "lr": len(lr_half), "val": len(val)}
    manifest = {
        **wanted,
        "degradation": describe(degradation),
        "counts": summary.counts,
        "sources": [str(s) for s in sources],
        "val_sources": [str(s) for s in val_sources],
        "skipped": summary.failures,
    }
    if content_shift is not None:
        manifest["content_shift"] = describe_shift(content_shift)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(staging, out)
    return summary


@dataclass
class Faces:
    """Decoded faces of one part, in file order, with their names in the set."""

    names: list[str]
    images: torch.Tensor

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices: Sequence[int]) -> Faces:
        return Faces([self.names[i] for i in indices], self.images[list(indices)])


def _faces(sources: Sequence[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for source in map(Path, sources):
        if not source.is_dir():
            raise UserError(
                f"{source}: {'not a folder' if source.exists() else 'folder not found'}"
            )
        found = list_images(source)
        if not found:
            raise UserError(f"{source}: no image files")
        files += found
    return files


def _read_faces(files: list[Path], hr_size: int, summary: SetSummary) -> Faces:
    """Decode a part's faces; unreadable or clashing files are listed, not fatal."""
    names: list[str] = []
    images: list[torch.Tensor] = []
    for path in files:
        name = set_name(path)
        if name in names:
            summary.failures.append(f"{path}: same name as another face in the set, skipped")
            continue
        try:
            images.append(read_face(path, hr_size))
        except ImageReadError as err:
            summary.failures.append(str(err))
            continue
        names.append(name)
    stacked = torch.stack(images) if images else torch.empty(0, 3, hr_size, hr_size)
    return Faces(names, stacked)


def _shift_population(
    content_shift: Callable, hr_half: Faces, lr_half: Faces, val: Faces, seed: int
) -> tuple[Faces, Faces, Faces]:
    """The shifted population: the selections draw the LR half from the whole training pool
    (the HR half keeps the rest) and the validation faces from theirs; the shift's steps then
    change every face of both."""
    if selections(content_shift):
        pool = Faces(hr_half.names + lr_half.names, torch.cat([hr_half.images, lr_half.images]))
        chosen = set(content_shift.chosen(pool.images).tolist())
        lr_half = pool.subset(sorted(chosen))
        hr_half = pool.subset([i for i in range(len(pool)) if i not in chosen])
        val = val.subset(content_shift.chosen(val.images).tolist())
    lr_half = Faces(lr_half.names, _shifted(content_shift, lr_half, "lr", seed))
    val = Faces(val.names, _shifted(content_shift, val, "val", seed))
    return hr_half, lr_half, val


def _shifted(content_shift: Callable, faces: Faces, part: str, seed: int) -> torch.Tensor:
    keys = [f"{part}/{name}" for name in faces.names]
    return shift_images(content_shift, faces.images, keys, seed)


def _write_clean(folder: Path, faces: Faces) -> None:
    for name, image in zip(faces.names, faces.images, strict=True):
        save_png(to_uint8(image), folder / name)


def _write_degraded(
    folder: Path,
    faces: Faces,
    degradation: Degradation,
    part: str,
    scale: int,
    seed: int,
    batch: int,
) -> None:
    """Degrade in batches, each face with the generator of its key (``part/name``)."""
    for start in range(0, len(faces), batch):
        chunk = faces.subset(range(start, min(start + batch, len(faces))))
        keys = [f"{part}/{name}" for name in chunk.names]
        low = degrade_images(degradation, chunk.images, scale, keys, seed)
        for name, image in zip(chunk.names, low, strict=True):
            save_png(to_uint8(image), folder / name)
