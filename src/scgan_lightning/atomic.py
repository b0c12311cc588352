"""Atomic file writes: a reader sees the old complete file or the new complete one, never half.

The bytes go to a hidden temporary file in the destination folder, are flushed and fsynced, and
the file is then ``os.replace``d over the target. The temporary file sits on the target's own
filesystem, so the last step is a rename and never a copy (a temporary file in ``/tmp`` moved onto
NFS or Lustre is copied, and a full disk or a kill during that copy leaves a truncated file under
the final name). A full disk, found before writing or while writing, removes the temporary file and
raises ``DiskFullError`` naming the folder and its free space.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import DiskFullError

# Errors that mean "this filesystem is full" (ENOSPC) or "your share of it is" (EDQUOT).
_FULL = {errno.ENOSPC, errno.EDQUOT}
PARTIAL_SUFFIX = ".partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; written files get the usual mode instead.
_FILE_MODE = 0o666 & ~_umask()


def human_size(size: float) -> str:
    """``87.3 MB``: sizes in the messages a user reads."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def free_space(folder: str | os.PathLike) -> int:
    """Bytes this process may still write under ``folder``."""
    return shutil.disk_usage(folder).free


def _disk_full(folder: Path, name: str, size: int) -> DiskFullError:
    return DiskFullError(
        f"{folder}: no space left on the device to write {name} ({human_size(size)}; "
        f"{human_size(free_space(folder))} free); the files already there are untouched"
    )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after ``os.replace`` keeps the new name)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms or filesystems that cannot open a folder: the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the data itself is already synced
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically, creating its folder; returns the path."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    size = memoryview(data).nbytes
    if size > free_space(folder):
        raise _disk_full(folder, path.name, size)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(partial, _FILE_MODE)
        os.replace(partial, path)
    except BaseException as err:  # a kill signal's exception too: never leave the partial file
        Path(partial).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in _FULL:
            raise _disk_full(folder, path.name, size) from None
        raise
    _fsync_folder(folder)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``write_bytes`` of ``text`` in UTF-8."""
    return write_bytes(path, text.encode("utf-8"))


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically: serialised in memory first, so a full disk is an ``OSError``
    of ``write_bytes`` (torch's own file writer reports it as a vague ``RuntimeError``)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes(path, buffer.getbuffer())
