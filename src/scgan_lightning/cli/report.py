"""``python -m scgan_lightning.report``: several restorers side by side with bicubic.

``models='{l1: a.pt, gan: b.ckpt}' hr_dir=... lr_dir=...`` (config ``conf/report.yaml``)
writes report.json, report.md (the model card's table) and grid_real_lr.png to output_dir;
``lr_dir`` alone scores real LR faces without ground truth (``ref_hr_dir`` and ``realism``
add sharpness and the descriptor distances to an HR set);
``pairs_dir=<controlled set>/val`` adds the benchmark's columns and grid_pairs.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from ..errors import UserError
from ..evaluation.report import build_report
from ..evaluation.tables import report_markdown, write_tables
from ..imaging import save_png
from ..inference.restorer import FaceRestorer
from ..metrics.fid import build_inception
from ..metrics.identity import IdentityDistance
from ..metrics.realism import DescriptorRealism
from .common import cli, task_wrapper


def _models(cfg: DictConfig) -> dict[str, str]:
    models = OmegaConf.to_container(cfg.models, resolve=True) if cfg.models else {}
    if not isinstance(models, dict) or not models:
        raise UserError("models is empty (give models='{name: checkpoint, ...}')")
    return {str(name): str(path) for name, path in models.items()}


def report(cfg: DictConfig) -> dict[str, Any]:
    """Load every model, score them with bicubic, write the tables and the grid."""
    models = _models(cfg)
    restorers = {
        name: FaceRestorer.from_checkpoint(
            path,
            cfg.device,
            "32",
            channels_last=False,
            batch_size=cfg.batch_size,
            hr_size=cfg.hr_size,
        )
        for name, path in models.items()
    }
    extractor = None
    if cfg.fid.weights_path:
        device = next(iter(restorers.values())).device
        extractor = build_inception(cfg.fid.weights_path).to(device).eval()
    result, grids = build_report(
        restorers,
        cfg.hr_dir,
        cfg.lr_dir,
        ref_hr_dir=cfg.ref_hr_dir,
        realism=DescriptorRealism() if cfg.realism else None,
        pairs_dir=cfg.pairs_dir,
        identity=IdentityDistance() if cfg.identity else None,
        baselines=(cfg.baselines.naive, cfg.baselines.oracle),
        degradations=list(cfg.degradations),
        max_images=cfg.max_images,
        max_lr_images=cfg.max_lr_images,
        grid_faces=cfg.grid_faces,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
        extractor=extractor,
    )
    result["models"] = models
    markdown = report_markdown(result)
    _, md_path = write_tables(result, cfg.output_dir, "report", markdown)
    names = []
    for kind, grid in grids.items():
        names.append(f"grid_{kind}.png")
        save_png(grid, Path(md_path).parent / names[-1])
    Console().print(markdown)
    print(f"wrote {md_path}, report.json and {', '.join(names)}")
    return result


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="report")
@task_wrapper
def _main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    report(cfg)


main = cli("report", _main)  # console script scgan-report; unknown keys get the closest one
