"""The Hydra training entry point: short runs, resume, run-directory contents (what each
experiment holds: test_experiments.py)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scgan_lightning.checkpoints import load_restorer
from scgan_lightning.imaging import read_face, to_uint8
from scgan_lightning.nets import TinyRestorer
from tests.train_runs import (
    PROJECT_ROOT,
    SESSION_CACHE,
    TINY_WIDTH,
    controlled_overrides,
    make_face_folders,
    run_dirs,
    run_train,
    train_overrides,
)

EXPERIMENTS = [
    "demo",
    "scgan_official",
    "faces_small",
    "faces_gan",
    "faces_scgan",
    "faces_real",
    "bench_scgan",
    "bench_oracle",
]
# Those on a controlled set built from the HR folder, and where their runs land.
CONTROLLED = {"demo", "bench_scgan", "bench_oracle"}
RUN_TASK = {"bench_scgan": "benchmark", "bench_oracle": "benchmark"}
# Tiny-width smoke runs of every experiment: no warm start (the bundled restorer has width 1/4),
# one pre-training iteration then the semi-cycled step, validation once per (two-batch) epoch.
VALIDATE_EACH_EPOCH = ("trainer.val_check_interval=1.0", "trainer.check_val_every_n_epoch=1")
SMOKE = (
    "model.init_from=null",
    "model.stages.pretrain=1",
    "model.stages.content_warmup=1",
    *VALIDATE_EACH_EPOCH,
)
SUPERVISED_SMOKE = ("model.init_from=null", *VALIDATE_EACH_EPOCH)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return make_face_folders(tmp_path_factory.mktemp("faces"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_short_run_of_each_experiment_leaves_a_complete_run_directory(
    experiment, folders, tmp_path
):
    smoke = SUPERVISED_SMOKE if experiment == "bench_oracle" else SMOKE
    overrides = controlled_overrides if experiment in CONTROLLED else train_overrides
    run_train(overrides(folders, tmp_path, f"experiment={experiment}", *smoke))
    (run,) = run_dirs(tmp_path, task=RUN_TASK.get(experiment, experiment))
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "grids" / "val_0000.png").is_file()
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    assert any(row.get("val/psnr") for row in rows)
    assert any(
        row.get("train/L1" if experiment == "bench_oracle" else "train/G_RLS") for row in rows
    )
    assert any(row.get("iteration") for row in rows)
    loaded = load_restorer(run / "restorer.pt")
    assert loaded.model.head.weight.shape[0] == 16  # 256 channels at width 1/16
    if experiment != "scgan_official":  # the CPU experiments time their speed settings
        log = "".join(p.read_text() for p in run.glob("*.log"))
        phases = (
            ["supervised"] if experiment == "bench_oracle" else ["degrader-only", "semi-cycled"]
        )
        assert all(f"speed, {phase} phase:" in log for phase in phases)


def test_the_content_gap_track_builds_its_set_and_keeps_restorers_along_the_run(folders, tmp_path):
    extra = (
        "experiment=bench_scgan",
        "content_shift=light",
        "data.hr_augment=wider_augment",
        "callbacks.restorer_checkpoint.snapshots=true",
        *SMOKE,
    )
    run_train(controlled_overrides(folders, tmp_path, *extra))
    (run,) = run_dirs(tmp_path, task="benchmark")
    assert run.parent.name == "gauss_noise_jpeg+light"  # the set's chain and its shift
    assert (tmp_path / "controlled_set" / "lr_clean").is_dir()
    snapshots = sorted(p.name for p in (run / "restorers").glob("iter_*.pt"))
    assert snapshots[0] == "iter_000000.pt" and len(snapshots) >= 2  # the start, then each val
    assert load_restorer(run / "restorers" / snapshots[-1]).ema


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_resume_from_last_continues_and_matches_an_uninterrupted_run(folders, tmp_path):
    straight, first_half = tmp_path / "straight", tmp_path / "resumed"
    common = ["trainer.num_sanity_val_steps=0", "model.ema.decay=0.9"]
    run_train(train_overrides(folders, straight, "trainer.max_epochs=2", *common))
    run_train(train_overrides(folders, first_half, "trainer.max_epochs=1", *common))
    (half,) = run_dirs(first_half)
    run_train(
        train_overrides(
            folders,
            first_half,
            "trainer.max_epochs=2",
            *common,
            f"ckpt_path={half / 'checkpoints' / 'last.ckpt'}",
        )
    )
    resumed = next(r for r in run_dirs(first_half) if r != half)
    (full,) = run_dirs(straight)
    resumed_ckpt = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed_ckpt["scgan"]["iteration"] == 4
    expected, got = _final_weights(full), resumed_ckpt["state_dict"]
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert torch.equal(value, got[key]), key


def test_a_second_architecture_trains_and_predicts_through_the_commands(folders, tmp_path):
    """model/net=tiny_restorer: the train command builds it, restorer.pt names it, and the
    predict command restores faces with it from that file alone."""
    overrides = [
        o for o in train_overrides(folders, tmp_path / "runs") if not o.startswith("model.net.")
    ]
    run_train(
        [
            *overrides,
            "model/net=tiny_restorer",
            f"model.degrader.width={TINY_WIDTH}",
            f"model.discriminator.width={TINY_WIDTH}",
            "trainer.precision=32",
        ]
    )
    (run,) = run_dirs(tmp_path / "runs")
    restorer = run / "restorer.pt"
    net = torch.load(restorer, weights_only=True)["net"]
    assert net == {"_target_": "scgan_lightning.nets.TinyRestorer", "channels": 32, "scale": 4}
    out = tmp_path / "restored"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scgan_lightning.predict",
            f"ckpt_path={restorer}",
            f"input={folders['lr']}",
            f"output={out}",
            "precision=32",
            "channels_last=false",
            "progress=false",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "SCGAN_CACHE_DIR": SESSION_CACHE},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == sorted(p.name for p in folders["lr"].glob("*.png"))
    loaded = load_restorer(restorer)
    assert isinstance(loaded.model, TinyRestorer)
    face = torch.stack([read_face(folders["lr"] / written[0].name, 16, square=False)])
    with torch.no_grad():
        expected = to_uint8(loaded.model(face)[0])
    got = np.asarray(Image.open(written[0]).convert("RGB")).astype(int)
    assert np.abs(got - expected.astype(int)).max() <= 1  # batched convolutions may round apart
