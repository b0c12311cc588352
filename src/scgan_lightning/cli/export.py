"""``python -m scgan_lightning.export``: the restorer as ONNX and TorchScript files.

``ckpt_path=restorer.pt output_dir=exported/`` (config ``conf/export.yaml``; without
``ckpt_path`` the bundled restorer); the work is ``inference.export.export_restorer``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ..inference.export import export_restorer
from .common import cli, task_wrapper


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="export")
@task_wrapper
def _main(cfg: DictConfig) -> None:
    """One-line errors, exit status 2 on bad input."""
    paths = export_restorer(
        cfg.ckpt_path,
        cfg.output_dir,
        formats=list(cfg.formats),
        hr_size=cfg.hr_size,
        opset=cfg.opset,
        overwrite=cfg.overwrite,
    )
    for path in paths.values():
        print(f"wrote {path}")


main = cli("export", _main)  # console script scgan-export
