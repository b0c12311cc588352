"""Restore faces: folders of face crops, or the small faces in whole photos.

``python -m scgan_lightning.predict input=... output=...`` (config ``conf/predict.yaml``;
without ``ckpt_path`` the bundled restorer). This module only turns the config into
``PredictOptions`` and calls the inference package; ``predict(PredictOptions(...))`` is the
same job from Python.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from .config_utils import cli, dotted_keys, exit_on_user_error, unknown_key
from .errors import UserError
from .inference.engine import restore_batch
from .inference.job import predict
from .inference.models import BUNDLED_RESTORER, load_model
from .inference.options import FaceOptions, PhotoOptions, PredictOptions

__all__ = [
    "BUNDLED_RESTORER",
    "PredictOptions",
    "load_model",
    "options_from_config",
    "predict",
    "restore_batch",
]
_GROUPS = {"faces": FaceOptions, "photo": PhotoOptions}


def options_from_config(cfg: DictConfig) -> PredictOptions:
    """Options from the Hydra config, with one-line errors for missing or unknown values."""
    for key in ("input", "output"):
        if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, ""):
            raise UserError(f"{key}= is required (see src/scgan_lightning/conf/predict.yaml)")
    values: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    valid = [f.name for f in fields(PredictOptions)] + [
        f"{group}.{f.name}" for group, kind in _GROUPS.items() for f in fields(kind)
    ]
    for key in dotted_keys(values):
        if key not in valid:
            raise unknown_key(key, valid, "predict")
    groups = {name: kind(**(values.pop(name, None) or {})) for name, kind in _GROUPS.items()}
    values.update(input=str(values["input"]), output=str(values["output"]))
    return PredictOptions(**values, **groups)


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
@exit_on_user_error
def _main(cfg: DictConfig) -> None:
    """Exit 2 with ``error: ...`` on a job problem, 1 if any input failed."""
    summary = predict(options_from_config(cfg))
    print(summary.line())
    if summary.failed:
        sys.exit(1)


main = cli("predict", _main)

if __name__ == "__main__":
    main()
