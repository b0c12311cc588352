"""Resume and warm start from damaged files, and a run on a disk too small for its checkpoints:
each a one-line error naming the file (or folder) and the problem, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scgan_lightning.checkpoints import save_restorer
from scgan_lightning.errors import CheckpointError
from scgan_lightning.training.resume import check_resume
from tests.mounts import assert_every_checkpoint_loads, small_tmpfs
from tests.train_runs import (
    PROJECT_ROOT,
    TINY_WIDTH,
    fit_in_memory,
    make_face_folders,
    random_batches,
    run_dirs,
    run_train,
    scgan_module,
    tiny_networks,
    train_overrides,
)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


# The damage a file can carry, as a user meets it: cut short, empty, foreign bytes.
DAMAGE = {
    "truncated": (_truncate, "truncated or damaged"),
    "empty": (lambda path: path.write_bytes(b""), r"empty file \(0 bytes\)"),
    "not a checkpoint": (lambda path: path.write_text("epoch 3\n"), "not a PyTorch checkpoint"),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """A folder with two real training checkpoints: ``epoch_0000.ckpt``, then ``last.ckpt``."""
    folder = tmp_path_factory.mktemp("run") / "checkpoints"
    torch.manual_seed(0)
    trainer = fit_in_memory(scgan_module(TINY_WIDTH), random_batches(1))
    trainer.save_checkpoint(folder / "epoch_0000.ckpt")
    trainer.save_checkpoint(folder / "last.ckpt")
    return folder


@pytest.fixture
def damaged_copy(checkpoints, tmp_path) -> Path:
    """A copy of ``checkpoints`` whose ``last.ckpt`` the test damages."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("epoch_0000.ckpt", "last.ckpt"):
        (folder / name).write_bytes((checkpoints / name).read_bytes())
    return folder


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_from_a_damaged_file_names_it_and_the_newest_loadable_one(damaged_copy, damage):
    spoil, problem = DAMAGE[damage]
    last = damaged_copy / "last.ckpt"
    spoil(last)
    with pytest.raises(CheckpointError) as err:
        check_resume(last, scgan_module(TINY_WIDTH))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"ckpt_path={last}: ")
    assert re.search(problem, message)
    assert f"the newest loadable checkpoint beside it is {damaged_copy / 'epoch_0000.ckpt'}" in (
        message
    )


def test_resume_with_no_loadable_checkpoint_beside_says_so(tmp_path):
    last = tmp_path / "last.ckpt"
    last.write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"no other checkpoint in {tmp_path} loads"):
        check_resume(last, scgan_module(TINY_WIDTH))


def test_resume_at_another_width_names_the_key_and_both_networks(checkpoints):
    with pytest.raises(CheckpointError) as err:
        check_resume(checkpoints / "last.ckpt", scgan_module(2 * TINY_WIDTH))
    message = str(err.value)
    assert "does not fit this model" in message and "has shape" in message
    ours, theirs = tiny_networks(TINY_WIDTH)["net"], tiny_networks(2 * TINY_WIDTH)["net"]
    assert f"trained with model.net={ours}, this run has {theirs}" in message
    assert "epoch_0000.ckpt" in message


def test_resume_from_a_restorer_file_points_to_init_from(tmp_path):
    path = tmp_path / "restorer.pt"
    module = scgan_module(TINY_WIDTH)
    save_restorer(path, module.g_rls, module.hparams.net, {}, ema=False)
    with pytest.raises(CheckpointError, match=r"holds weights only.*model\.init_from="):
        check_resume(path, scgan_module(TINY_WIDTH))


def test_resume_from_a_sound_checkpoint_passes(checkpoints):
    check_resume(checkpoints / "last.ckpt", scgan_module(TINY_WIDTH))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_init_from_a_damaged_file_names_it_and_the_problem(damaged_copy, damage):
    spoil, problem = DAMAGE[damage]
    last = damaged_copy / "last.ckpt"
    spoil(last)
    with pytest.raises(CheckpointError, match=f"^{last}: {problem}") as err:
        scgan_module(TINY_WIDTH, init_from=str(last))
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return make_face_folders(tmp_path_factory.mktemp("faces"), n_hr=8)


def _train(overrides: list[str]) -> subprocess.CompletedProcess:
    """The command as a user runs it: warnings as Python shows them by default."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, "-m", "scgan_lightning.train", *overrides],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


def _assert_one_line_error(done: subprocess.CompletedProcess) -> str:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "LeafSpec" not in output and "💡 Tip" not in output, output[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), done.stderr[-3000:]
    return last


@pytest.mark.slow
def test_train_resumed_from_a_truncated_checkpoint_stops_in_one_line_then_resumes(
    folders, tmp_path
):
    overrides = train_overrides(
        folders,
        tmp_path,
        "trainer.max_epochs=2",
        "trainer.limit_val_batches=0",
        "+callbacks.model_checkpoint.every_n_epochs=1",
    )
    run_train(overrides)
    [run] = run_dirs(tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    _truncate(last)
    line = _assert_one_line_error(_train([*overrides, f"ckpt_path={last}"]))
    newest = run / "checkpoints" / "epoch_0001.ckpt"
    assert line.startswith(f"error: ckpt_path={last}: truncated or damaged")
    assert f"the newest loadable checkpoint beside it is {newest}" in line
    run_train([*overrides, "trainer.max_epochs=3", f"ckpt_path={newest}"])
    resumed = run_dirs(tmp_path)[-1]
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
    for folder in run_dirs(tmp_path)[1:]:  # the first holds the file this test truncated
        assert_every_checkpoint_loads(folder)


@pytest.mark.slow
def test_train_on_a_disk_smaller_than_two_checkpoints_stops_in_one_line(folders, tmp_path):
    """A tiny-width checkpoint is about 11.5 MB: the first fits on 16 MB, the second does not."""
    with small_tmpfs(tmp_path / "disk", "16m") as disk:
        done = _train(
            train_overrides(
                folders,
                disk,
                "trainer.max_epochs=2",
                "trainer.limit_val_batches=0",
                "+callbacks.model_checkpoint.every_n_epochs=1",
            )
        )
        line = _assert_one_line_error(done)
        [run] = run_dirs(disk)
        assert line.startswith(f"error: {run / 'checkpoints'}: no space left on the device")
        assert " free); the files already there are untouched" in line
        assert "fewer than 3 checkpoints fit" in done.stdout + done.stderr  # warned at the start
        assert assert_every_checkpoint_loads(disk), "the first checkpoint should have fitted"
