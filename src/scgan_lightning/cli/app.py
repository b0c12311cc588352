"""``scgan-app`` / ``python -m scgan_lightning.app``: the local web app.

Config ``conf/app.yaml``; the work is ``app.server.serve``. Without Gradio installed (the
``app`` extra) it says how to install it, in one line.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from ..app.server import AppSettings, serve
from .common import cli, task_wrapper


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="app")
@task_wrapper
def _main(cfg: DictConfig) -> None:
    """One-line errors, exit status 2 on bad settings; serves until Ctrl+C or SIGTERM."""
    values: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    serve(AppSettings(**values))


main = cli("app", _main)  # console script scgan-app
