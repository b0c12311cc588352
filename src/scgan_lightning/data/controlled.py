"""The controlled unpaired face set: SCGAN's claim made measurable (AIM 2019 / NTIRE 2020 Track 1).

From one pool of clean HR faces, split by file and deterministically:

- ``hr/``: half of the faces, clean, ``hr_size`` square: the HR domain;
- ``lr/``: the other half, degraded by a chain the method is not told: the "real" LR domain,
  disjoint from ``hr/``;
- ``val/hr`` + ``val/lr``: held-out faces and their degraded LR, paired by file name, the
  ground truth that real LR faces lack.

``controlled_set.json`` records what built the set; it is written last, so a set without it
is incomplete. A folder that holds anything else is never written into.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..imaging import ImageReadError, list_images, read_face, save_png, to_uint8
from .degradation import Degradation, degrade_images, describe, image_seed

MANIFEST = "controlled_set.json"
PARTS = ("hr", "lr", "val/hr", "val/lr")


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
    plan = (("hr", split.hr, None), ("lr", split.lr, "lr"), ("val", split.val, "val"))
    for part, files, degraded_as in plan:
        _write_part(
            staging, part, files, degradation, degraded_as, hr_size, scale, seed, batch, summary
        )
    manifest = {
        **wanted,
        "degradation": describe(degradation),
        "counts": summary.counts,
        "sources": [str(s) for s in sources],
        "val_sources": [str(s) for s in val_sources],
        "skipped": summary.failures,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(staging, out)
    return summary


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


def _write_part(
    staging: Path,
    part: str,
    files: list[Path],
    degradation: Degradation,
    degraded_as: str | None,
    hr_size: int,
    scale: int,
    seed: int,
    batch: int,
    summary: SetSummary,
) -> None:
    """Read, (degrade,) write one part in batches; unreadable or clashing files are listed."""
    names: set[str] = set()
    kept: list[tuple[str, torch.Tensor]] = []
    for path in files:
        name = set_name(path)
        if name in names:
            summary.failures.append(f"{path}: same name as another face in the set, skipped")
            continue
        try:
            kept.append((name, read_face(path, hr_size)))
        except ImageReadError as err:
            summary.failures.append(str(err))
            continue
        names.add(name)
    for start in range(0, len(kept), batch):
        chunk = kept[start : start + batch]
        images = torch.stack([image for _, image in chunk])
        chunk_names = [name for name, _ in chunk]
        if degraded_as != "lr":  # the HR half and the validation HR stay clean
            folder = staging / ("hr" if part == "hr" else "val/hr")
            for name, image in zip(chunk_names, images, strict=True):
                save_png(to_uint8(image), folder / name)
        if degraded_as is not None:
            keys = [f"{degraded_as}/{name}" for name in chunk_names]
            low = degrade_images(degradation, images, scale, keys, seed)
            folder = staging / ("lr" if degraded_as == "lr" else "val/lr")
            for name, image in zip(chunk_names, low, strict=True):
                save_png(to_uint8(image), folder / name)
    summary.counts[part] = len(kept)
