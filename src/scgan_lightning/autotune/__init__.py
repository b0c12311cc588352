"""Run settings chosen by timing real work on the machine at hand, for training and restoring.

One set of candidates (``settings``), one way of timing them on the work itself (``tuner``),
one decision rule and one cache (``cache``). Never chosen from CPU flags: an AVX-512 BF16 Xeon
without AMX ran bf16 slower than float32, an AMD EPYC 2.3x faster. Training applies the choice
from a Lightning callback (``training.speed_tuning``), the restorer from its engine
(``inference.engine``).
"""

from .cache import cache_key, cache_path, cached_choice
from .settings import AUTO, MARGIN, Requested, Settings, decide
from .tuner import Tuner

__all__ = [
    "AUTO",
    "MARGIN",
    "Requested",
    "Settings",
    "Tuner",
    "cache_key",
    "cache_path",
    "cached_choice",
    "decide",
]
