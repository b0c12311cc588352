"""``python -m scgan_lightning.train``: compose the config, build everything, fit.

Returns the value of ``optimized_metric`` so Hydra sweepers (Optuna) can optimise it.
"""

from __future__ import annotations

import logging
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError
from ..training.speed import AUTO, TRAINER_PRECISION_FOR_AUTO
from .common import cli, extras, instantiate_group, task_wrapper

log = logging.getLogger(__name__)


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


def train(cfg: DictConfig) -> dict[str, float]:
    """Train (or resume) as configured; returns the final callback metrics as floats."""
    _check_launch(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    extras(cfg, order=("data", "model", "trainer", "callbacks", "logger"))

    # Plain containers (not OmegaConf ones) so checkpoints load with weights_only=True.
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    precision = {}
    if str(cfg.trainer.get("precision")) == AUTO:
        # The module chooses float32 or bf16 per phase by timing (training/speed.py).
        model.use_auto_precision()
        precision = {"precision": TRAINER_PRECISION_FOR_AUTO}
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **precision
    )
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    start: dict[str, float] = {}
    if cfg.get("validate_first") and not cfg.get("ckpt_path"):
        # The starting point, scored as every later validation is: what training must beat.
        results = trainer.validate(model, datamodule=datamodule, verbose=False)
        start = {k: float(v) for k, v in (results[0] if results else {}).items()}
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    summary = final_scores(metrics, callbacks, start)
    if summary:
        print(summary)
    log.info("run directory: %s", cfg.paths.output_dir)
    return metrics


def final_scores(
    metrics: dict[str, float], callbacks: list[Any], start: dict[str, float] | None = None
) -> str:
    """The last validation against bicubic and against the run's start (``validate_first``),
    and the grid to open: what a newcomer checks first."""
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
            f"start of the run (the restorer it was initialised with): PSNR "
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
