"""Every packaged experiment composes and holds the recipe its docs claim.

The claims are those of checkpoints/MODEL_CARD.md (faces_small, faces_gan, faces_scgan, the
demo), the README (the demo) and the authors' train.py (scgan_official). The runs the model card
reports left their resolved configs in checkpoints/; their recipes must be what the experiments
hold, budgets and schedules counted in iterations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from scgan_lightning.training.losses import DegraderLoss, LossWeights
from scgan_lightning.training.module import RELEASED_SCHEDULE
from scgan_lightning.training.recipe import Optimiser, Stages, plain
from tests.train_runs import PROJECT_ROOT

PACKAGED = sorted(
    p.stem
    for p in (PROJECT_ROOT / "src" / "scgan_lightning" / "conf" / "experiment").glob("*.yaml")
)
BUNDLED = "scgan_faces_small.pt"
RESTORER = "scgan_lightning.nets.Restorer"
EXPLICIT = "scgan_lightning.nets.ExplicitDegrader"

CLAIMS: dict[str, dict[str, Any]] = {
    # The authors' train.py: 200 epochs, Adam lr 1e-4 (0.9, 0.999), cosine over 10 epochs to
    # 1e-5 moved once an epoch, alpha 1, beta 0.05, theta 1, gamma 0.05, batch 64, seed 2020,
    # float32; the epochs in iterations at the paper's scale (about 2,800 an epoch).
    "scgan_official": {
        "model.net": {"_target_": RESTORER, "width": 1.0},
        "model.degrader.width": 1.0,
        "model.discriminator.width": 1.0,
        "data.batch_size": 64,
        "seed": 2020,
        "model.optimiser": {"lr": 1e-4, "betas": [0.9, 0.999], "lr_d": None, "laws_lr": None},
        "model.schedule": {"t_max": 28_000, "eta_min": 1e-5, "every": 2_800},
        "trainer.precision": 32,
        "trainer.val_check_interval": 2_800,
        "callbacks.model_checkpoint.every_n_iterations": 14_000,  # 5 epochs, every one kept
        "callbacks.model_checkpoint.save_top_k": -1,
        "model.stages.pretrain": 0,
        "model.stages.semi_cycled": 560_000,
        "model.stages.content_warmup": 0,
        "model.loss.alpha": 1.0,
        "model.loss.beta": 0.05,
        "model.loss.theta": 1.0,
        "model.loss.gamma": 0.05,
        "model.loss.beta_degrader": None,  # None: the released single beta on both sides
        "model.loss.beta_restorer": None,
        "model.init_from": None,
    },
    # MODEL_CARD "The L1 stage": the run behind the bundled restorer.
    "faces_small": {
        "model.net.width": 0.25,
        "model.degrader.width": 0.25,
        "model.discriminator.width": 0.25,
        "data.batch_size": 16,
        "model.optimiser.lr": 3e-4,
        "model.optimiser.betas": [0.9, 0.999],
        # over the 12,520 iterations, moved once an epoch (5,023 HR faces at batch 16)
        "model.schedule": {"t_max": None, "eta_min": 1e-5, "every": 313},
        "seed": 2020,
        "model.stages.pretrain": 6000,
        "model.stages.semi_cycled": 6520,  # 40 epochs of 313 iterations in all
        "model.stages.pretrain_restorer": True,
        "model.loss.beta": 0.05,
        "model.ema.decay": 0.999,
        "trainer.precision": "auto",
        "model.channels_last": "auto",
        "model.adam_impl": "auto",
        "data.max_val_images": 128,
        "data.val_degradation": "avgpool",
        "trainer.val_check_interval": 500,
    },
    # MODEL_CARD "The GAN stage", "Recipe".
    "faces_gan": {
        "model.net.width": 0.25,
        "data.batch_size": 16,
        "model.optimiser.lr": 1e-4,
        "model.loss.beta_degrader": 0.01,
        "model.loss.beta_restorer": 0.002,
        "model.stages.pretrain_restorer": False,
        "model.stages.pretrain": 5300,
        "model.stages.semi_cycled": 7220,
        "model.ema.decay": 0.995,
        "data.val_degradation": "blur_noise_jpeg",
        "trainer.val_check_interval": 250,
        "data.max_val_images": 128,
        "trainer.precision": "auto",
        "model.channels_last": "auto",
        "model.adam_impl": "auto",
        "data.lr_dir": "/faces/faces_lr_real/train",  # the held-out LR faces stay out
    },
    # README "Set-up" and MODEL_CARD "The demo": the controlled protocol on the demo set, the
    # bench_scgan recipe for a short budget, from the bundled restorer.
    "demo": {
        "model.net.width": 0.25,
        "data.batch_size": 8,
        "data.sources": ["/project/data/demo/hr_train"],
        "data.val_sources": ["/project/data/demo/hr_val"],
        "degradation.name": "gauss_noise_jpeg",
        "model.degrader._target_": EXPLICIT,
        "model.degrader_loss.spectrum_weight": 1.0,
        "model.stages.pretrain": 150,
        "model.stages.semi_cycled": 150,
        "model.stages.pretrain_restorer": False,
        "model.loss.beta_degrader": 0.05,
        "model.loss.beta_restorer": 0.002,
        "model.ema.decay": None,
        "trainer.accelerator": "cpu",
        "trainer.precision": "auto",  # timed per phase (PERFORMANCE.md "Chosen by timing")
        "model.channels_last": "auto",
        "model.adam_impl": "auto",
        "validate_first": True,
        "trainer.val_check_interval": 50,
    },
    # docs/BENCHMARK.md: the naive baseline, trained from scratch on avgpool pairs of the HR half.
    "bench_naive": {
        "model.net.width": 0.25,
        "model.init_from": None,
        "data.train_pairs": "degraded_hr",
        "data.train_degradation": "avgpool",
        "model.iterations": 6000,
        "model.schedule.t_max": None,  # the cosine spans the budget
        "model.schedule.every": 1,
        "validate_first": True,
        "trainer.precision": "auto",
        "model.channels_last": "auto",
    },
    # docs/BENCHMARK.md: the oracle, the naive restorer fine-tuned on the set's own chain.
    "bench_oracle": {
        "model.net.width": 0.25,
        "data.train_pairs": "degraded_hr",
        "data.train_degradation": None,
        "model.optimiser.lr": 2e-4,
        "model.ema.decay": 0.99,
        "model.iterations": 3000,
        "trainer.precision": "auto",
        "model.channels_last": "auto",
    },
    # docs/BENCHMARK.md: SCGAN on the unpaired halves, from the naive restorer.
    "bench_scgan": {
        "model.net.width": 0.25,
        "model.degrader.width": 0.125,
        "model.discriminator.width": 0.125,
        "data.train_pairs": "unpaired",
        "model.degrader._target_": EXPLICIT,
        "model.optimiser.laws_lr": 1e-2,
        "model.degrader_loss.content": "lowpass",
        "model.degrader_loss.gan_input": "highpass",
        "model.degrader_loss.spectrum_weight": 1.0,
        "model.stages.pretrain": 300,
        "model.stages.semi_cycled": 800,
        "model.stages.pretrain_restorer": False,
        # moved once an epoch of the 2,512-face HR half at batch 16, a period of 10 epochs
        "model.schedule": {"t_max": 1570, "eta_min": 1e-5, "every": 157},
        "model.loss.beta_degrader": 0.05,
        "model.loss.beta_restorer": 0.002,
        "trainer.precision": "auto",
        "model.channels_last": "auto",
        "model.adam_impl": "auto",
    },
    # MODEL_CARD.md "Real faces": bench_scgan's recipe and budget on CelebA HR x real WIDER LR,
    # its held-out real LR faces kept out.
    "faces_scgan": {
        "model.net.width": 0.25,
        "data.lr_dir": "/faces/faces_lr_real/train",
        "model.degrader._target_": EXPLICIT,
        "model.degrader_loss.content": "lowpass",
        "model.degrader_loss.spectrum_weight": 1.0,
        "model.stages.pretrain": 300,
        "model.stages.semi_cycled": 800,
        "model.schedule": {"t_max": 1565, "eta_min": 1e-5, "every": 313},  # as it was run
        "model.loss.beta_degrader": 0.05,
        "model.loss.beta_restorer": 0.002,
        "model.optimiser.lr": 2e-4,
        "model.ema.decay": 0.99,
        "trainer.precision": "auto",
    },
    # MODEL_CARD "The bundled default": faces_scgan plus the content-gap track's findings.
    "faces_real": {
        "model.net.width": 0.25,
        "data.lr_dir": "/faces/faces_lr_real/train",
        "data.hr_augment": "wider_augment",
        "model.degrader_loss.spectrum_normalize": True,
        "model.loss.clean_anchor": 2.0,
        "model.loss.real_lowpass_sigma": 1.0,
        "model.loss.gamma": 1.0,
        "model.stages.pretrain": 300,
        "model.stages.semi_cycled": 800,
        "model.schedule": {"t_max": 1565, "eta_min": 1e-5, "every": 313},
        "callbacks.restorer_checkpoint.snapshots": True,
    },
}
SCGAN = "scgan_lightning.training.module.SCGANModule"
SUPERVISED = "scgan_lightning.training.supervised.SupervisedRestorerModule"
FACES = "scgan_lightning.data.FaceDataModule"
CONTROLLED = "scgan_lightning.data.ControlledFaceDataModule"
TARGETS = {  # (model, data) where an experiment is not SCGAN on the real unpaired sets
    "demo": (SCGAN, CONTROLLED),
    "bench_scgan": (SCGAN, CONTROLLED),
    "bench_naive": (SUPERVISED, CONTROLLED),
    "bench_oracle": (SUPERVISED, CONTROLLED),
}


def _compose(experiment: str, *overrides: str) -> dict[str, Any]:
    paths = ["paths.root_dir=/project", "paths.data_dir=/faces", "paths.output_dir=/run"]
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", *paths, *overrides])
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _flat(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _select(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def test_every_packaged_experiment_has_its_claims_listed():
    assert sorted(CLAIMS) == PACKAGED


@pytest.mark.parametrize("experiment", PACKAGED)
def test_the_experiment_holds_what_its_docs_claim(experiment: str):
    cfg = _compose(experiment)
    model, data = TARGETS.get(experiment, (SCGAN, FACES))
    assert cfg["model"]["_target_"] == model
    assert cfg["data"]["_target_"] == data
    for key, value in CLAIMS[experiment].items():
        assert _select(cfg, key) == value, key


@pytest.mark.parametrize(
    "experiment", ["demo", "faces_gan", "faces_scgan", "bench_scgan", "bench_oracle"]
)
def test_warm_started_experiments_start_from_the_bundled_restorer(experiment: str):
    assert Path(_compose(experiment)["model"]["init_from"]).name == BUNDLED


def test_the_released_model_config_is_the_modules_defaults():
    """model/scgan.yaml writes out the released values for users to read and override; the
    module's typed groups hold them, and the two must not drift apart."""
    model = _compose("scgan_official")["model"]
    assert model["optimiser"] == plain(Optimiser())
    assert model["schedule"] == plain(RELEASED_SCHEDULE)
    assert model["stages"] == plain(Stages())
    assert model["loss"] == plain(LossWeights())
    assert model["degrader_loss"] == plain(DegraderLoss())


def test_the_degraders_and_critics_follow_the_restorers_width_unless_set():
    model = _compose("faces_small", "model.net.width=0.5")["model"]
    assert model["degrader"]["width"] == model["discriminator"]["width"] == 0.5
    recipe = _compose("bench_scgan", "model.net.width=0.5")["model"]
    assert recipe["degrader"]["width"] == recipe["discriminator"]["width"] == 0.125


# The runs the model card reports, their resolved configs in checkpoints/ (keys as they were
# named then), and the iterations an epoch of their data held (5,023 HR faces at batch 16).
RECORDED = {
    "faces_small": "faces_small_training",
    "faces_gan": "faces_gan_training",
    "faces_scgan": "faces_scgan_training",
    "faces_real": "faces_real_training",
}
RECORDED_EPOCH = 313
RENAMED = {  # a recorded key -> the key that holds the same setting today
    "model.width": "model.net.width",
    "model.lr": "model.optimiser.lr",
    "model.lr_d": "model.optimiser.lr_d",
    "model.betas": "model.optimiser.betas",
    "model.ema_decay": "model.ema.decay",
    "model.ema_warmup": "model.ema.warmup",
    "model.pretrain_iterations": "model.stages.pretrain",
    "model.pretrain_restorer": "model.stages.pretrain_restorer",
    "model.pretrain_adversarial": "model.stages.pretrain_adversarial",
    "model.pretrain_beta": "model.stages.pretrain_beta",
    "model.content_warmup_iterations": "model.stages.content_warmup",
    "model.scheduler.eta_min": "model.schedule.eta_min",
    "model.noise_dim": "model.degrader.noise_dim",
    "model.released_sn_backward": "model.discriminator.released_backward",
    "model.degrader_width": "model.degrader.width",
    "model.discriminator_width": "model.discriminator.width",
    "model.degrader.kind": "model.degrader._target_",
    "model.degrader.lr": "model.optimiser.laws_lr",
}
KIND = {"explicit": EXPLICIT, "released": "scgan_lightning.nets.Degrader"}
# Budgets and schedules: compared as iterations by the test below, not key by key.
BUDGET = {
    "model.scheduler.t_max",
    "model.schedule.t_max",
    "model.schedule.every",
    "model.stages.semi_cycled",
    "trainer.max_steps",
    "trainer.max_epochs",
}
ADDED_SINCE = {  # settings added after a run, at defaults that give the behaviour it ran with
    "model.init_from",
    "model.optimiser.lr_d",
    "model.optimiser.laws_lr",
    "model.loss.beta_degrader",
    "model.loss.beta_restorer",
    "model.loss.clean_anchor",
    "model.loss.real_lowpass_sigma",
    "model.stages.pretrain_restorer",
    "model.stages.pretrain_adversarial",
    "model.stages.pretrain_beta",
    "model.degrader",
    "model.discriminator",
    "model.degrader_loss",
    "model.ema.warmup",
    "model.compile",
    "model._recursive_",
    "data.val_lr_dir",
    "data.train_pairs",
    "data.train_degradation",
    "data._recursive_",
    "data.on_device",
    "data.hr_augment",
}
# The recorded runs ran bf16-mixed, channels-last, fused Adam (the preset fastest on their CPU);
# the experiments time those choices per phase at the start.
TIMED = {"trainer.precision", "model.channels_last", "model.adam_impl"}
DIFFERS = {
    "faces_small": TIMED,
    # The recorded GAN run resumed from a checkpoint of its degrader-only stage (run in pieces,
    # MODEL_CARD "How it was run"); the experiment runs that stage itself, in one go.
    "faces_gan": {
        "model.init_from",
        "model.stages.pretrain",
        "model.stages.content_warmup",
        "model.stages.pretrain_restorer",
        "trainer.max_time",
        *TIMED,
    },
    "faces_scgan": set(),
    "faces_real": set(),
}


def _recorded(experiment: str) -> dict[str, Any]:
    """The recorded run's flat config under today's key names."""
    record = PROJECT_ROOT / "checkpoints" / RECORDED[experiment] / "config_resolved.yaml"
    ran = {RENAMED.get(k, k): v for k, v in _flat(yaml.safe_load(record.read_text())).items()}
    if "model.degrader._target_" in ran:
        ran["model.degrader._target_"] = KIND[ran["model.degrader._target_"]]
    return ran


def _iterations(ran: dict[str, Any]) -> int:
    """The iterations a recorded run was given: its epochs, or its optimiser steps, of which
    a pre-training iteration took one and a semi-cycled one two."""
    if ran.get("trainer.max_steps") not in (None, -1):
        pretrain = ran["model.stages.pretrain"]
        return pretrain + (ran["trainer.max_steps"] - pretrain) // 2
    return ran["trainer.max_epochs"] * RECORDED_EPOCH


@pytest.mark.parametrize("experiment", sorted(RECORDED))
def test_the_recorded_run_used_the_experiments_recipe(experiment: str):
    ran, holds = _recorded(experiment), _flat(_compose(experiment))
    skip = ADDED_SINCE | DIFFERS[experiment] | BUDGET
    for key in sorted(set(ran) | set(holds)):
        skipped = key in skip or key.startswith(tuple(f"{k}." for k in skip))
        if not key.startswith(("model.", "data.", "trainer.")) or skipped:
            continue
        if key.endswith(("_dir", "._target_", "default_root_dir")):
            continue  # machine paths, and class paths
        assert holds.get(key) == ran.get(key), key


@pytest.mark.parametrize("experiment", sorted(RECORDED))
def test_the_recorded_runs_budget_and_schedule_are_the_experiments_in_iterations(experiment):
    ran, holds = _recorded(experiment), _flat(_compose(experiment))
    budget = holds["model.stages.pretrain"] + holds["model.stages.semi_cycled"]
    assert budget == _iterations(ran)
    # The recorded cosine moved at epoch ends, its period counted in epochs.
    assert holds["model.schedule.every"] == RECORDED_EPOCH
    period = holds["model.schedule.t_max"] or budget
    assert period == ran["model.scheduler.t_max"] * RECORDED_EPOCH


def test_the_recipe_experiments_share_one_model_block():
    """model/scgan_recipe.yaml: what the benchmark measured; faces_scgan runs it with
    bench_scgan's budget and its rate moved at its own data's epochs, the demo with its own
    short budget."""
    bench, faces, demo = (
        _compose(name)["model"] for name in ("bench_scgan", "faces_scgan", "demo")
    )
    assert bench["degrader"]["_target_"] == EXPLICIT
    assert {**faces, "schedule": bench["schedule"]} == bench
    budget = {"stages", "optimiser", "schedule", "ema"}
    assert {k: v for k, v in demo.items() if k not in budget} == {
        k: v for k, v in bench.items() if k not in budget
    }
