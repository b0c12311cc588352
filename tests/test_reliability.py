"""Crash, preemption and determinism: training must lose nothing and be repeatable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train_runs import (
    PROJECT_ROOT,
    make_face_folders,
    run_dirs,
    run_train,
    train_overrides,
    wait_for_iteration,
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return make_face_folders(tmp_path_factory.mktemp("faces"), n_hr=16)


def _start(overrides: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scgan_lightning.train", *overrides],
        start_new_session=True,  # its own process group, as a scheduler's job step has
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.mark.parametrize(
    ("signum", "workers"),
    [
        (signal.SIGTERM, 0),
        pytest.param(signal.SIGUSR1, 0, marks=pytest.mark.slow),
        pytest.param(signal.SIGTERM, 1, marks=pytest.mark.slow),
    ],
)
def test_preemption_signal_saves_a_checkpoint_and_exits_cleanly(folders, tmp_path, signum, workers):
    """The signal goes to the whole process group, DataLoader workers included."""
    overrides = train_overrides(
        folders,
        tmp_path,
        "trainer.max_epochs=50",
        "trainer.limit_train_batches=8",
        "trainer.limit_val_batches=0",
        f"data.num_workers={workers}",
    )
    process = _start(overrides)
    run = wait_for_iteration(tmp_path, process)
    os.killpg(process.pid, signum)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    iteration = checkpoint["scgan"]["iteration"]
    assert 1 <= iteration < 50 * 8, "the run was not stopped by the signal"


@pytest.mark.slow
def test_sigkill_never_leaves_a_truncated_checkpoint_and_resume_finishes(folders, tmp_path):
    overrides = train_overrides(
        folders,
        tmp_path,
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=0",
        "+callbacks.model_checkpoint.every_n_epochs=1",
    )
    process = _start(overrides)
    run = wait_for_iteration(tmp_path, process)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # land somewhere inside the next epoch or checkpoint write
    process.kill()
    process.wait()
    for checkpoint in (run / "checkpoints").glob("*.ckpt"):
        torch.load(checkpoint, weights_only=True)  # every visible checkpoint is complete
    interrupted = torch.load(last, weights_only=True)["scgan"]["iteration"]
    run_train([*overrides, f"ckpt_path={last}"])
    resumed = next(r for r in run_dirs(tmp_path) if r != run)
    final = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert interrupted >= 4
    assert final["scgan"]["iteration"] == 16
    assert final["epoch"] == 3


@pytest.mark.slow
def test_same_seed_gives_bit_identical_weights(folders, tmp_path):
    """On the CPU the step is deterministic as configured: same seed, same data order."""
    for name in ("a", "b"):
        run_train(train_overrides(folders, tmp_path / name, "seed=7"))
    (a,), (b,) = run_dirs(tmp_path / "a"), run_dirs(tmp_path / "b")
    wa = torch.load(a / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    wb = torch.load(b / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(v, wb[k]) for k, v in wa.items())


EXIT_MID_EPOCH = """
from scgan_lightning.data.datamodule import FaceDataModule
dm = FaceDataModule(hr_dir="data/demo/hr_train", lr_dir="data/demo/lr_train",
                    val_hr_dir="data/demo/hr_val", num_workers=1, batch_size=4, val_batch_size=4)
dm.setup("fit")
batches = iter(dm.val_dataloader())
next(batches)  # the worker is still busy with prefetched batches when the interpreter exits
"""


def test_exit_with_a_worker_mid_epoch_does_not_hang():
    """Workers ignore SIGTERM, which multiprocessing's exit handler relies on; without the
    exit handler of data/workers.py, a run stopped by a signal during validation would hang at
    exit waiting for its validation worker."""
    done = subprocess.run(
        [sys.executable, "-c", EXIT_MID_EPOCH],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
