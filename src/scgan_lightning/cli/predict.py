"""``python -m scgan_lightning.predict``: restore face crops, or the small faces of photos.

Config ``conf/predict.yaml`` (without ``ckpt_path``: the bundled restorer). Its keys are the
fields of ``PredictOptions``, checked once on the command line before Hydra composes the
config; ``inference.job.predict(PredictOptions(...))`` is the same job from Python.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError
from ..inference.job import predict
from ..inference.options import GROUPS, PredictOptions, option_keys
from .common import cli, task_wrapper


def options_from_config(cfg: DictConfig) -> PredictOptions:
    """Options from the composed config, with one-line errors for missing values."""
    for key in ("input", "output"):
        if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, ""):
            raise UserError(f"{key}= is required (see src/scgan_lightning/conf/predict.yaml)")
    values: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    groups = {name: kind(**(values.pop(name, None) or {})) for name, kind in GROUPS.items()}
    values.update(input=str(values["input"]), output=str(values["output"]))
    return PredictOptions(**values, **groups)


@hydra.main(version_base="1.3", config_path="pkg://scgan_lightning.conf", config_name="predict")
@task_wrapper
def _main(cfg: DictConfig) -> None:
    """Exit 2 with ``error: ...`` on a job problem, 1 if any input failed."""
    summary = predict(options_from_config(cfg))
    print(summary.line())
    if summary.failed:
        sys.exit(1)


main = cli("predict", _main, option_keys())
