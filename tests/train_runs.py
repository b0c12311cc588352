"""Run ``python -m scgan_lightning.train`` in a subprocess on tiny generated face folders."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY_WIDTH = 0.0625
# The speed choices' cache of the test runs (one per test session, never the user's own).
SESSION_CACHE = tempfile.mkdtemp(prefix="scgan_test_cache_")


def tiny_networks(width: float = TINY_WIDTH) -> dict[str, dict]:
    """The released architectures as SCGANModule's network specs, shrunk to ``width``."""
    from scgan_lightning.released import released_networks

    return released_networks(width)


def scgan_module(width: float = TINY_WIDTH, **options):
    """An ``SCGANModule`` of the released networks at ``width``; ``options`` as the module takes
    them (a network spec given there replaces the shrunk one)."""
    from scgan_lightning.training.module import SCGANModule

    return SCGANModule(**{**tiny_networks(width), **options})


def make_face_folders(root: Path, n_hr: int = 8, n_lr: int = 8, n_val: int = 4) -> dict[str, Path]:
    """Folders of small random-texture images standing in for HR, real LR and val faces."""
    rng = np.random.default_rng(0)
    folders = {"hr": root / "hr", "lr": root / "lr", "val": root / "val"}
    for (key, folder), (count, size) in zip(
        folders.items(), [(n_hr, 64), (n_lr, 16), (n_val, 64)], strict=True
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            smooth = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
            image = Image.fromarray(smooth).resize((size, size), Image.Resampling.BICUBIC)
            image.save(folder / f"{key}_{i:03d}.png")
    return folders


def train_overrides(folders: dict[str, Path], log_dir: Path, *extra: str) -> list[str]:
    """A short CPU run: tiny width, batch 2, two train batches, one val batch a (one-epoch)
    run, CSV logger."""
    return [
        f"data.hr_dir={folders['hr']}",
        f"data.lr_dir={folders['lr']}",
        f"data.val_hr_dir={folders['val']}",
        "data.batch_size=2",
        "data.val_batch_size=4",
        f"model.net.width={TINY_WIDTH}",  # the six other networks follow it
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
        "trainer.val_check_interval=1.0",
        "trainer.check_val_every_n_epoch=1",
        "trainer.enable_model_summary=false",
        "~callbacks.progress_bar",
        "print_config=false",
        f"paths.log_dir={log_dir}",
        *extra,
    ]


def controlled_overrides(folders: dict[str, Path], log_dir: Path, *extra: str) -> list[str]:
    """:func:`train_overrides` for ``data=controlled`` experiments: the set is built from the
    HR folder (halves of 4 faces) with the val folder's faces as its pairs."""
    kept = [
        o
        for o in train_overrides(folders, log_dir, *extra)
        if not o.startswith(("data.hr_dir=", "data.lr_dir=", "data.val_hr_dir="))
    ]
    return [
        f"data.sources=[{folders['hr']}]",
        f"data.val_sources=[{folders['val']}]",
        "data.val_count=4",
        f"data.set_dir={log_dir / 'controlled_set'}",
        *kept,
    ]


def run_train(
    overrides: list[str], *, multirun: bool = False, env: dict | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run the training entry point; raises with its output on failure."""
    command = [
        sys.executable,
        "-m",
        "scgan_lightning.train",
        *(["-m"] if multirun else []),
        *overrides,
    ]
    full_env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "SCGAN_CACHE_DIR": SESSION_CACHE,
        **(env or {}),
    }
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=full_env
    )
    if result.returncode != 0:
        raise AssertionError(
            f"train exited {result.returncode}\nSTDOUT:\n{result.stdout[-4000:]}\n"
            f"STDERR:\n{result.stderr[-6000:]}"
        )
    return result


def wait_for_iteration(log_dir: Path, process: subprocess.Popen, timeout: float = 600) -> Path:
    """Wait until a run under ``log_dir`` has logged a training iteration; returns its run dir."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the run ended before a training iteration\n{output}")
        for csv_file in log_dir.rglob("metrics.csv"):
            if "train/G_RLS" in csv_file.read_text() and csv_file.read_text().count("\n") > 1:
                return csv_file.parents[1]
        time.sleep(0.5)
    raise AssertionError("no training iteration was logged in time")


def run_dirs(log_dir: Path, task: str = "train") -> list[Path]:
    """Run directories (those holding a resolved config) under ``log_dir/task``."""
    return sorted(p.parent for p in (log_dir / task).rglob("config_resolved.yaml"))


def random_batches(
    n: int, seed: int = 0, size: int = 2, poison: bool = False
) -> list[dict[str, torch.Tensor]]:
    """``n`` seeded training batches of random 64x64 HR, 16x16 LR and noise ``z``.

    ``poison`` puts a NaN into every HR batch, for the non-finite guard.
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        hr = torch.rand(size, 3, 64, 64, generator=g) * 2 - 1
        if poison:
            hr[0, 0, 0, 0] = float("nan")
        out.append(
            {
                "hr": hr,
                "lr": torch.rand(size, 3, 16, 16, generator=g) * 2 - 1,
                "z": torch.randn(size, 1, 64, generator=g),
            }
        )
    return out


def feed_batch_noise(module, batches: list[dict]) -> None:
    """Make ``module`` draw each training step's noise from the batches' ``z``, in order (and
    again each epoch), so runs on the same batches see the same z."""
    noise = itertools.cycle([batch["z"] for batch in batches])
    module.sample_noise = lambda batch_size, device: next(noise).to(device)


def fit_in_memory(
    module, batches: list[dict], callbacks: list | None = None, logger=False, **options
):
    """Quiet CPU training of ``module`` over ready-made batches; returns the Trainer.

    One epoch and no validation unless ``options`` say otherwise (``val_batches`` takes
    validation batches; the rest go to ``pl.Trainer``). Batches that carry ``z`` feed it as
    the steps' noise (``feed_batch_noise``).
    """
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    val_batches = options.pop("val_batches", None)
    settings = {
        "max_epochs": 1,
        "num_sanity_val_steps": 0,
        "limit_val_batches": 0 if val_batches is None else None,
        "enable_checkpointing": False,
        **options,
    }
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks or [],
        **settings,
    )
    val = None if val_batches is None else DataLoader(val_batches, batch_size=None)
    if all("z" in batch for batch in batches):
        feed_batch_noise(module, batches)
    trainer.fit(
        module,
        train_dataloaders=DataLoader(batches, batch_size=None, shuffle=False),
        val_dataloaders=val,
    )
    return trainer
