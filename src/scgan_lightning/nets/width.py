"""Channel-count scaling: one ``width`` factor shrinks every network for tests and CPU demos."""

from __future__ import annotations


def scaled(channels: int, width: float, multiple: int = 1) -> int:
    """``channels * width`` rounded to ``multiple`` and at least ``multiple``."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(multiple, round(channels * width / multiple) * multiple)
