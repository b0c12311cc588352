"""What a job reads: a file, a folder (recursive) or a glob, with each file's output name."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..imaging import IMAGE_EXTENSIONS, list_images

_GLOB_CHARS = frozenset("*?[")


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


def inside(path: Path, folder: Path) -> bool:
    return folder == path or folder in path.parents


def exclude_outputs(inputs: InputSet, output: Path) -> InputSet:
    """Leave out files under an output folder nested inside the input folder (earlier results)."""
    out, root = output.resolve(), inputs.root.resolve()
    if out == root or not inside(out, root):
        return inputs
    kept = [item for item in inputs.items if not inside(item.path.resolve(), out)]
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
