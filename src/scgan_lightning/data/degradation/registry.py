"""Degradations by name, by YAML file or by config: ``conf/degradation`` is the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from .. import presets
from .chain import Degradation

GROUP = "degradation"


def preset_names() -> list[str]:
    """The packaged chains, sorted."""
    return presets.preset_names(GROUP)


def load_degradation(spec: str | Mapping[str, Any] | DictConfig | Degradation) -> Degradation:
    """A degradation from a preset name, a ``.yaml`` path, a config with ``_target_``, or a
    callable (returned as it is)."""
    return presets.load_callable(spec, GROUP, "degradation")
