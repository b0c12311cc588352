"""``python -m scgan_lightning.train``: compose the config, build everything, fit.

Returns the value of ``optimized_metric`` so Hydra sweepers (Optuna) can optimise it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ..autotune import AUTO
from ..errors import UserError
from ..training.checkpoint_io import with_atomic_io
from ..training.preemption import (
    CheckpointOnSignal,
    keep_earlier_metrics,
    preempted_checkpoint,
    share_signal_with_submitit,
    without_lightning_requeue,
)
from ..training.resume import check_resume
from ..training.speed import TRAINER_PRECISION_FOR_AUTO
from .common import (
    RESOLVED_CONFIG,
    cli,
    exit_on_user_error,
    extras,
    instantiate_group,
    task_wrapper,
)
from .quiet import quiet_known_noise

log = logging.getLogger(__name__)

# hydra/launcher=slurm's class (hydra-submitit-launcher): its jobs' processes are srun's tasks.
SLURM_LAUNCHER = "SlurmLauncher"


class _LastValidation(pl.Callback):
    """Remembers the optimiser step of the last validation during fit, so that the final
    scores describe the weights the run ends with, not those of an earlier validation."""

    def __init__(self) -> None:
        self.step: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.step = trainer.global_step


def ddp_sweep_refused(trainer: DictConfig, launcher: str) -> bool:
    """Whether a multirun job of ``trainer`` under the launcher class ``launcher`` would have
    Lightning start its DDP processes: they re-execute the command, and each would re-run the
    sweep. Under the SLURM launcher they are srun's tasks instead (Lightning reads their ranks)."""
    devices = trainer.get("devices", 1)
    strategy = trainer.get("strategy")
    strategy_name = strategy if isinstance(strategy, str) else (strategy or {}).get("_target_", "")
    uses_ddp = "ddp" in str(strategy_name).lower() or "DDP" in str(strategy_name)
    several = devices == -1 or devices == "auto" or (isinstance(devices, int) and devices > 1)
    return uses_ddp and several and not launcher.endswith(SLURM_LAUNCHER)


def _check_launch(cfg: DictConfig) -> None:
    """Refuse a sweep of DDP jobs that Lightning would launch (``ddp_sweep_refused``)."""
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        return
    if ddp_sweep_refused(cfg.trainer, str(HydraConfig.get().launcher.get("_target_", ""))):
        raise UserError(
            "multirun sweeps cannot launch DDP jobs (each rank would re-run the sweep); "
            "run one DDP job per command, sweep with trainer=gpu/cpu, or sweep on SLURM "
            "(hydra/launcher=slurm starts one task per device)"
        )


def continue_preempted(cfg: DictConfig) -> tuple[str, int] | None:
    """A job started again in the run directory where it was stopped by a signal, with the
    same config (a requeue: submitit's or SLURM's), continues from the checkpoint it saved:
    its path and the iteration it was saved at."""
    saver = (cfg.get("callbacks") or {}).get("checkpoint_on_signal")
    if not (cfg.get("resume_preempted") and saver and saver.get("dirpath")):
        return None
    found = preempted_checkpoint(saver.dirpath)
    previous = Path(cfg.paths.output_dir) / RESOLVED_CONFIG
    if found is None or not previous.is_file():
        return None
    if previous.read_text() != OmegaConf.to_yaml(cfg, resolve=True):
        log.warning(
            "%s holds a run stopped by a signal, but its config differs from this one's: "
            "starting afresh",
            cfg.paths.output_dir,
        )
        return None
    checkpoint, note = found
    log.warning(
        "resuming from %s: this job was stopped by %s at iteration %s and started again",
        checkpoint,
        "/".join(note.get("signals", [])) or "a signal",
        note.get("iteration"),
    )
    return str(checkpoint), int(note.get("iteration", 0))


def build_trainer(
    cfg: DictConfig, callbacks: list[Any], loggers: list[Any], **overrides: Any
) -> pl.Trainer:
    """``cfg.trainer`` (with ``overrides``) with every checkpoint it writes (periodic,
    ``last.ckpt``, the preemption save) going through the atomic writer
    (``training/checkpoint_io.py``), and under SLURM without Lightning's own requeue
    (``training/preemption.py``)."""
    plugins = with_atomic_io(hydra.utils.instantiate(cfg.trainer.get("plugins"), _convert_="all"))
    plugins = without_lightning_requeue(plugins)
    return hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins, **overrides
    )


def train(cfg: DictConfig) -> dict[str, float]:
    """Train (or resume) as configured; returns the final callback metrics as floats."""
    _check_launch(cfg)
    continued = None if cfg.get("ckpt_path") else continue_preempted(cfg)
    ckpt_path = continued[0] if continued else cfg.get("ckpt_path")
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    extras(cfg, order=("data", "model", "trainer", "callbacks", "logger"))

    # Plain containers (not OmegaConf ones) so checkpoints load with weights_only=True.
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    if ckpt_path:
        check_resume(ckpt_path, model)  # a damaged file: one line, before any work
    callbacks = instantiate_group(cfg.get("callbacks"))
    last_validation = _LastValidation()
    loggers = instantiate_group(cfg.get("logger"))
    if continued:
        keep_earlier_metrics(loggers, continued[1])
    precision = {}
    if str(cfg.trainer.get("precision")) == AUTO:
        # The module runs float32 or bf16 per phase, as timed (training/speed_tuning.py).
        model.use_auto_precision()
        precision = {"precision": TRAINER_PRECISION_FOR_AUTO}
    trainer = build_trainer(cfg, [*callbacks, last_validation], loggers, **precision)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    start: dict[str, float] = {}
    if cfg.get("validate_first") and not ckpt_path:
        # The starting point, scored as every later validation is: what training must beat.
        results = trainer.validate(model, datamodule=datamodule, verbose=False)
        start = {k: float(v) for k, v in (results[0] if results else {}).items()}
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    stale = last_validation.step is not None and last_validation.step != trainer.global_step
    preempted = any(isinstance(c, CheckpointOnSignal) and c.stopped for c in callbacks)
    if stale and not (trainer.interrupted or preempted):
        # Steps ran after the last validation: score the weights the run exports.
        trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    init_from = cfg.model.get("init_from")
    label = cfg.get("start_label") or (Path(init_from).name if init_from else None)
    summary = final_scores(metrics, callbacks, start, label)
    if summary:
        print(summary)
    log.info("run directory: %s", cfg.paths.output_dir)
    return metrics


def final_scores(
    metrics: dict[str, float],
    callbacks: list[Any],
    start: dict[str, float] | None = None,
    start_label: str | None = None,
) -> str:
    """The last validation against bicubic and against the run's start (``validate_first``:
    the ``init_from`` restorer, or random weights), and the grid to open: what a newcomer
    checks first."""
    if "val/psnr" not in metrics:
        return ""
    nan = float("nan")
    lines = [
        f"final validation: restorer PSNR {metrics['val/psnr']:.2f} dB, "
        f"SSIM {metrics.get('val/ssim', nan):.4f} | bicubic PSNR "
        f"{metrics.get('val/psnr_bicubic', nan):.2f} dB, "
        f"SSIM {metrics.get('val/ssim_bicubic', nan):.4f}"
    ]
    if start and "val/psnr" in start:
        gain = metrics["val/psnr"] - start["val/psnr"]
        lines.append(
            f"start of the run ({start_label or 'random weights'}): PSNR "
            f"{start['val/psnr']:.2f} dB, SSIM {start.get('val/ssim', nan):.4f}; "
            f"the run moved PSNR by {gain:+.2f} dB"
        )
    grids = [c.last_path for c in callbacks if getattr(c, "last_path", None) is not None]
    if grids:
        lines.append(f"validation grid (LR | restored | HR): {grids[-1]}")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="train")
@task_wrapper
def _main(cfg: DictConfig) -> float | None:
    """Hydra entry point: the metric a sweeper optimises."""
    quiet_known_noise()  # again: a submitit job runs this in a process of its own
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


_entry = cli("train", _main)  # unknown keys are answered with the closest valid one first


def main() -> Any:
    """The training command: submitit (if a sweep uses it) is told the project's signal first."""
    exit_on_user_error(share_signal_with_submitit)(sys.argv[1:])
    return _entry()
