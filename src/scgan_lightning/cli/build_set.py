"""``python -m scgan_lightning.build_set``: build a controlled unpaired face set.

``sources=[/data/faces] out=/data/sets/mine degradation=aniso_poisson_jpeg`` (config
``conf/build_set.yaml``) splits the faces by file into ``hr/`` (clean), ``lr/`` (degraded by the
chain) and ``val/hr`` + ``val/lr`` (held-out pairs), the set ``data=controlled`` trains on and
``scgan-report pairs_dir=<out>/val`` scores. ``content_shift=wider_like`` builds the
content-gap track's set: the LR half and the pairs from a shifted population.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from ..data.content import load_content_shift
from ..data.controlled import build_controlled_set
from ..data.degradation import load_degradation
from .common import cli, task_wrapper


def build_set(cfg: DictConfig) -> None:
    """Build (or find already built) the set and print what it holds."""
    recipe = {"degradation": OmegaConf.to_container(cfg.degradation, resolve=True)}
    shift = cfg.get("content_shift")
    if shift is not None:  # as data=controlled records it, so training finds this set
        recipe["content_shift"] = OmegaConf.to_container(shift, resolve=True)
    summary = build_controlled_set(
        [str(s) for s in cfg.sources],
        cfg.out,
        load_degradation(cfg.degradation),
        recipe,
        hr_size=cfg.hr_size,
        scale=cfg.scale,
        val_count=cfg.val_count,
        seed=cfg.split_seed,
        val_sources=[str(s) for s in cfg.val_sources],
        content_shift=load_content_shift(shift) if shift is not None else None,
    )
    print(summary.line())
    for failure in summary.failures[:20]:
        print(f"  skipped: {failure}")


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="build_set")
@task_wrapper
def _main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    build_set(cfg)


main = cli("build_set", _main)  # console script scgan-build-set
