"""Atomic writes on a real small filesystem: a full disk or a kill mid-write loses nothing.

The filesystems are real tmpfs mounts (``tests/mounts.py``; skipped with the reason where this
machine cannot mount), on another filesystem than ``/tmp``, the layout of a cluster whose run
directories sit on NFS or Lustre.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from scgan_lightning import atomic
from scgan_lightning.atomic import save_torch, write_bytes
from scgan_lightning.checkpoints import load_restorer, save_restorer
from scgan_lightning.cli.quiet import quiet_known_noise
from scgan_lightning.cli.train import build_trainer
from scgan_lightning.errors import DiskFullError
from scgan_lightning.evaluation.tables import write_tables
from scgan_lightning.imaging import save_png
from scgan_lightning.nets import Restorer
from scgan_lightning.networks import restorer_spec
from scgan_lightning.training.checkpoint_io import AtomicCheckpointIO
from tests.mounts import assert_every_checkpoint_loads, small_tmpfs
from tests.train_runs import PROJECT_ROOT, TINY_WIDTH


@pytest.fixture
def disk(tmp_path) -> Path:
    """A 4 MB filesystem; tests write a small file first, then one too large for the rest."""
    with small_tmpfs(tmp_path / "disk", "4m") as mount:
        yield mount


def _tensor_bytes(megabytes: float) -> dict[str, torch.Tensor]:
    return {"w": torch.arange(int(megabytes * 250_000), dtype=torch.float32)}


# Each writer of the project, given a small payload then one larger than the disk.
WRITERS = {
    "checkpoint": lambda path, big: save_torch(_tensor_bytes(6 if big else 0.5), path),
    "restorer.pt": lambda path, big: save_restorer(
        path,
        Restorer(width=1.0 if big else TINY_WIDTH),
        restorer_spec(1.0 if big else TINY_WIDTH),
        {"scale": 4},
        ema=False,
    ),
    "png": lambda path, big: save_png(
        np.random.default_rng(0).integers(0, 256, (1500 if big else 64, 1500, 3), np.uint8),
        path,
        compress_level=0,
    ),
    "report": lambda path, big: write_tables(
        {"x": "y" * (5_000_000 if big else 10)}, path.parent, path.stem, "table\n"
    ),
}
NAMES = {"checkpoint": "last.ckpt", "restorer.pt": "restorer.pt", "png": "val.png"}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_keeps_the_previous_file_and_leaves_no_partial(disk, writer):
    path = disk / "run" / NAMES.get(writer, "report.json")
    WRITERS[writer](path, False)
    before = path.read_bytes()
    with pytest.raises(DiskFullError) as err:
        WRITERS[writer](path, True)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path.parent}: no space left") and " free)" in message
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*partial"))
    assert_every_checkpoint_loads(disk)
    if writer == "restorer.pt":
        load_restorer(path)


def test_a_disk_found_full_only_while_writing_is_the_same_clear_stop(disk, monkeypatch):
    """Free-space counts can be wrong (quotas, NFS): the write itself hits ENOSPC."""
    monkeypatch.setattr(atomic, "free_space", lambda folder: 1 << 40)
    path = disk / "last.ckpt"
    save_torch(_tensor_bytes(0.5), path)
    with pytest.raises(DiskFullError, match="no space left"):
        save_torch(_tensor_bytes(6), path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], _tensor_bytes(0.5)["w"])
    assert_every_checkpoint_loads(disk)


def test_file_modes_follow_the_umask_not_mkstemp(tmp_path):
    path = write_bytes(tmp_path / "a.txt", b"x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


SAVE_FOREVER = """
import sys, torch
from scgan_lightning.training.checkpoint_io import AtomicCheckpointIO
from scgan_lightning.networks import restorer_spec
io, step = AtomicCheckpointIO(), 0
while True:
    step += 1
    io.save_checkpoint({"step": step, "w": torch.full((20_000_000,), float(step))}, sys.argv[1])
"""


def test_sigkill_during_the_copy_keeps_the_previous_checkpoint(tmp_path):
    """A writer saving 80 MB checkpoints in a loop is killed while a partial file is open."""
    with small_tmpfs(tmp_path / "disk", "256m") as mount:
        last = mount / "checkpoints" / "last.ckpt"
        for _ in range(3):
            writer = subprocess.Popen(
                [sys.executable, "-c", SAVE_FOREVER, str(last)],
                cwd=PROJECT_ROOT,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not (
                last.exists() and list(last.parent.glob(".last.ckpt.*.partial"))
            ):
                time.sleep(0.001)
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            assert last.exists(), "the writer never finished a first checkpoint"
            [loaded] = assert_every_checkpoint_loads(mount, killed=True)
            checkpoint = torch.load(loaded, weights_only=True)
            assert torch.all(checkpoint["w"] == checkpoint["step"])
            for partial in last.parent.glob(".*.partial"):
                partial.unlink()  # SIGKILL leaves its hidden temporary file; never a .ckpt


@pytest.mark.parametrize("trainer", ["cpu", "ddp_cpu"])
def test_every_checkpoint_the_trainer_writes_goes_through_the_atomic_writer(trainer, tmp_path):
    """ModelCheckpoint and the preemption save both write through the strategy's CheckpointIO."""
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        # precision=auto is turned into the Trainer's own precision by train(), not here.
        overrides = [f"trainer={trainer}", "trainer.precision=32", f"paths.output_dir={tmp_path}"]
        cfg = compose("train", overrides=overrides)
    built = build_trainer(cfg, callbacks=[], loggers=[])
    assert isinstance(built.strategy.checkpoint_io, AtomicCheckpointIO)


def test_the_leafspec_deprecation_is_silenced_and_other_warnings_are_kept():
    from pytorch_lightning.utilities._pytree import _tree_flatten

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        _tree_flatten([1, 2])  # Lightning's CombinedLoader: builds torch's deprecated LeafSpec
        warnings.warn("something the user should read", FutureWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert messages == ["something the user should read"]
