"""Content shifts by name, by YAML file or by config: ``conf/content_shift`` is the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from .. import presets
from .shift import ImageShift

GROUP = "content_shift"


def preset_names() -> list[str]:
    """The packaged content shifts, sorted."""
    return presets.preset_names(GROUP)


def load_content_shift(spec: str | Mapping[str, Any] | DictConfig | ImageShift) -> ImageShift:
    """A content shift from a preset name, a ``.yaml`` path, a config with ``_target_``, or a
    callable (returned as it is)."""
    return presets.load_callable(spec, GROUP, "content shift")
