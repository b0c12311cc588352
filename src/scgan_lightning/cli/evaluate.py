"""``python -m scgan_lightning.evaluate``: score a restorer beside bicubic, print and save.

``mode=paired`` (PSNR / SSIM / LPIPS on LR made from ``hr_dir``) or ``mode=unpaired``
(FID / KID of restored real LR faces against ``ref_hr_dir``); config ``conf/evaluate.yaml``.
The network runs in float32, NCHW: scores must not depend on the machine's fastest settings.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig
from rich.console import Console

from ..errors import UserError
from ..evaluation.paired import evaluate_paired
from ..evaluation.tables import render_markdown, render_table, write_tables
from ..evaluation.unpaired import evaluate_unpaired
from ..inference.models import model_label
from ..inference.restorer import FaceRestorer
from ..metrics.fid import build_inception
from ..metrics.perceptual import build_lpips
from .common import cli, task_wrapper


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """The evaluation the config asks for, printed and written as metrics.json / metrics.md."""
    if cfg.mode not in ("paired", "unpaired"):
        raise UserError(f"mode={cfg.mode!r} unknown; choose paired or unpaired")
    restorer = FaceRestorer.from_checkpoint(
        cfg.ckpt_path,
        cfg.device,
        "32",
        channels_last=False,
        batch_size=cfg.batch_size,
        hr_size=cfg.hr_size,
    )
    common = {"max_images": cfg.max_images, "batch_size": cfg.batch_size, "seed": cfg.seed}
    if cfg.mode == "paired":
        lpips_model = None
        if cfg.lpips.enabled:
            lpips_model = build_lpips(cfg.lpips.weights_path, cfg.lpips.net).to(restorer.device)
        result = evaluate_paired(
            restorer,
            cfg.hr_dir,
            degradation=cfg.degradation,
            crop_border=cfg.crop_border,
            test_y_channel=cfg.test_y_channel,
            lpips_model=lpips_model,
            **common,
        )
    else:
        result = evaluate_unpaired(
            restorer,
            cfg.lr_dir,
            cfg.ref_hr_dir,
            build_inception(cfg.fid.weights_path),
            kid_subsets=cfg.fid.kid_subsets,
            kid_subset_size=cfg.fid.kid_subset_size,
            **common,
        )
    label = model_label(cfg.ckpt_path)
    result["checkpoint"] = {"path": label, "source": restorer.source, "ema": restorer.ema}
    json_path, md_path = write_tables(result, cfg.output_dir, "metrics", render_markdown(result))
    console = Console()
    console.print(render_table(result))
    console.print(f"wrote {json_path} and {md_path}")
    return result


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="evaluate")
@task_wrapper
def _main(cfg: DictConfig) -> None:
    """One-line errors, exit status 2 on bad input."""
    evaluate(cfg)


main = cli("evaluate", _main)  # console script scgan-evaluate
