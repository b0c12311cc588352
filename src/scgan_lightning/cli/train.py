"""``python -m scgan_lightning.train``: compose the config, build everything, fit.

Returns the value of ``optimized_metric`` so Hydra sweepers (Optuna) can optimise it.
"""

from __future__ import annotations

import logging
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
from ..training.resume import check_resume
from ..training.speed import TRAINER_PRECISION_FOR_AUTO
from .common import cli, extras, instantiate_group, task_wrapper

log = logging.getLogger(__name__)


class _LastValidation(pl.Callback):
    """Remembers the optimiser step of the last validation during fit, so that the final
    scores describe the weights the run ends with, not those of an earlier validation."""

    def __init__(self) -> None:
        self.step: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.step = trainer.global_step


def _check_launch(cfg: DictConfig) -> None:
    """Hydra multirun re-executes the script; DDP's launcher would fork a sweep per rank."""
    devices = cfg.trainer.get("devices", 1)
    strategy = cfg.trainer.get("strategy")
    strategy_name = strategy if isinstance(strategy, str) else (strategy or {}).get("_target_", "")
    uses_ddp = "ddp" in str(strategy_name).lower() or "DDP" in str(strategy_name)
    several = devices == -1 or devices == "auto" or (isinstance(devices, int) and devices > 1)
    if (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and (uses_ddp and several)
    ):
        raise UserError(
            "multirun sweeps cannot launch DDP jobs (each rank would re-run the sweep); "
            "run one DDP job per command, or sweep with trainer=gpu/cpu"
        )


def build_trainer(
    cfg: DictConfig, callbacks: list[Any], loggers: list[Any], **overrides: Any
) -> pl.Trainer:
    """``cfg.trainer`` (with ``overrides``) with every checkpoint it writes (periodic,
    ``last.ckpt``, the preemption save) going through the atomic writer
    (``training/checkpoint_io.py``)."""
    plugins = with_atomic_io(hydra.utils.instantiate(cfg.trainer.get("plugins"), _convert_="all"))
    return hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins, **overrides
    )


def train(cfg: DictConfig) -> dict[str, float]:
    """Train (or resume) as configured; returns the final callback metrics as floats."""
    _check_launch(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    extras(cfg, order=("data", "model", "trainer", "callbacks", "logger"))

    # Plain containers (not OmegaConf ones) so checkpoints load with weights_only=True.
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    if cfg.get("ckpt_path"):
        check_resume(cfg.ckpt_path, model)  # a damaged file: one line, before any work
    callbacks = instantiate_group(cfg.get("callbacks"))
    last_validation = _LastValidation()
    loggers = instantiate_group(cfg.get("logger"))
    precision = {}
    if str(cfg.trainer.get("precision")) == AUTO:
        # The module runs float32 or bf16 per phase, as timed (training/speed_tuning.py).
        model.use_auto_precision()
        precision = {"precision": TRAINER_PRECISION_FOR_AUTO}
    trainer = build_trainer(cfg, [*callbacks, last_validation], loggers, **precision)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    start: dict[str, float] = {}
    if cfg.get("validate_first") and not cfg.get("ckpt_path"):
        # The starting point, scored as every later validation is: what training must beat.
        results = trainer.validate(model, datamodule=datamodule, verbose=False)
        start = {k: float(v) for k, v in (results[0] if results else {}).items()}
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    stale = last_validation.step is not None and last_validation.step != trainer.global_step
    if stale and not trainer.interrupted:
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
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


main = cli("train", _main)  # unknown keys are answered with the closest valid one first
