"""Small real filesystems for the full-disk tests: a tmpfs of a given size, mounted for one test.

CI runs as root and can mount; elsewhere the test is skipped with the reason, never faked.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch


@contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (``16m``) on ``mount_point`` for the block, then unmount it."""
    mount_point.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command: cannot make a small filesystem to fill")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def assert_every_checkpoint_loads(folder: Path, killed: bool = False) -> list[Path]:
    """Every ``.ckpt`` under ``folder`` loads with ``weights_only=True``; returns them.

    Unless the writer was ``killed`` (SIGKILL leaves nobody to clean up), no temporary file of
    the atomic writer is left either."""
    checkpoints = sorted(folder.rglob("*.ckpt"))
    for path in checkpoints:
        torch.load(path, weights_only=True)
    if not killed:
        assert not sorted(folder.rglob("*.partial")), "a partial file was left behind"
    return checkpoints
