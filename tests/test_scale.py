"""Experiments at scale, on the CPU: DDP over gloo, bf16-mixed, grid and Optuna sweeps, W&B."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from scgan_lightning.checkpoints import load_restorer
from tests.train_runs import make_face_folders, run_dirs, run_train, train_overrides


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return make_face_folders(tmp_path_factory.mktemp("faces"))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_keeps_ranks_identical(folders, tmp_path):
    run_train(
        train_overrides(
            folders,
            tmp_path,
            "trainer=ddp_cpu",
            "+callbacks.rank_check._target_=scgan_lightning.training.callbacks.RankConsistencyCheck",
        )
    )
    (run,) = run_dirs(tmp_path)
    report = json.loads((run / "rank_checksums.json").read_text())
    assert report["world_size"] == 2
    assert report["identical"], report["checksums"]
    assert (run / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_ddp_ranks_time_the_same_candidates_and_agree(folders, tmp_path):
    """precision/layout/Adam "auto" under DDP: every rank runs rank zero's plan step by step,
    so the replicas stay identical while the candidates are timed."""
    run_train(
        train_overrides(
            folders,
            tmp_path,
            "trainer=ddp_cpu",
            "trainer.precision=auto",
            "model.channels_last=auto",
            "model.adam_impl=auto",
            "+callbacks.rank_check._target_=scgan_lightning.training.callbacks.RankConsistencyCheck",
        ),
        env={"SCGAN_CACHE_DIR": str(tmp_path / "empty_cache")},  # no earlier choice to reuse
    )
    (run,) = run_dirs(tmp_path)
    report = json.loads((run / "rank_checksums.json").read_text())
    assert report["world_size"] == 2 and report["identical"], report["checksums"]
    log = "".join(p.read_text() for p in run.glob("*.log"))
    assert "speed, semi-cycled phase: timing" in log


def test_multirun_refuses_ddp_at_once(folders, tmp_path):
    with pytest.raises(AssertionError, match="multirun sweeps cannot launch DDP"):
        run_train(train_overrides(folders, tmp_path, "trainer=ddp_cpu", "seed=1,2"), multirun=True)


def test_bf16_mixed_run_keeps_spectral_norm_in_float32_and_reloads_at_32(folders, tmp_path):
    run_train(train_overrides(folders, tmp_path, "trainer.precision=bf16-mixed"))
    (run,) = run_dirs(tmp_path)
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    sn_vectors = {k: v for k, v in state.items() if k.endswith(("sn.weight_u", "sn.weight_v"))}
    assert sn_vectors and all(v.dtype == torch.float32 for v in sn_vectors.values())
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    restorer = load_restorer(run / "checkpoints" / "last.ckpt").model
    with torch.no_grad():
        out = restorer(torch.zeros(1, 3, 16, 16))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.slow
def test_grid_multirun_gives_each_job_its_own_directory_and_metrics(folders, tmp_path):
    run_train(train_overrides(folders, tmp_path, "model.loss.beta=0.01,0.05"), multirun=True)
    runs = run_dirs(tmp_path)
    assert len(runs) == 2
    betas = sorted(
        yaml.safe_load((r / "config_resolved.yaml").read_text())["model"]["loss"]["beta"]
        for r in runs
    )
    assert betas == [0.01, 0.05]
    assert all((r / "csv" / "metrics.csv").is_file() for r in runs)


@pytest.mark.slow
def test_optuna_sweep_runs_trials_and_reports_the_best(folders, tmp_path):
    run_train(
        train_overrides(
            folders,
            tmp_path,
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.sampler.n_startup_trials=2",
        ),
        multirun=True,
    )
    runs = run_dirs(tmp_path)
    assert len(runs) == 2
    assert all((r / "csv" / "metrics.csv").is_file() for r in runs)
    (results,) = list(tmp_path.rglob("optimization_results.yaml"))
    best = yaml.safe_load(results.read_text())
    assert "model.optimiser.lr" in best["best_params"]


@pytest.mark.slow
def test_wandb_offline_run_writes_history_and_images(folders, tmp_path):
    run_train(
        train_overrides(folders, tmp_path, "logger=wandb", "logger.wandb.offline=true"),
        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    (run,) = run_dirs(tmp_path)
    (offline,) = list((run / "wandb").glob("offline-run-*"))
    (history,) = list(offline.glob("run-*.wandb"))
    record = history.read_bytes()  # W&B's offline log: protobuf records holding JSON text
    assert b"backward_cycle_trains_restorer" in record, "the resolved config was not logged"
    assert b"train/G_RLS" in record and b"val/psnr" in record, "the metric history is missing"
    images = list((offline / "files" / "media" / "images").rglob("*.png"))
    assert images, "the validation grid was not sent to W&B"
