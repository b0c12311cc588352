"""Third-party console output that tells a user nothing, silenced at its source, with the reason
beside each filter. Warnings that say something about the run are left alone."""

from __future__ import annotations

import logging
import warnings

# Lightning's CombinedLoader (pytorch_lightning/utilities/_pytree.py) builds ``LeafSpec()``,
# which torch >= 2.10 deprecates; it is printed at every fit, validate and predict, and nothing
# in this project or the user's config can change it (no Lightning release avoids it yet).
# Only that message from that module is ignored.
LEAFSPEC_MESSAGE = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LEAFSPEC_MODULE = r"pytorch_lightning\.utilities\._pytree"

# Lightning's rank-zero loggers (both names: which one a message goes through depends on which
# package set ``rank_zero_module.log`` last).
RANK_ZERO_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)


def _not_an_advert(record: logging.LogRecord) -> bool:
    """Lightning's "💡 Tip: ... try installing litlogger / litmodels" lines advertise its
    cloud services at every Trainer start; they are not about the run."""
    return not str(record.msg).startswith("💡 Tip:")


def quiet_known_noise() -> None:
    """Install the filters above; idempotent, called by every command before it runs."""
    warnings.filterwarnings(
        "ignore", message=LEAFSPEC_MESSAGE, category=FutureWarning, module=LEAFSPEC_MODULE
    )
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if _not_an_advert not in logger.filters:
            logger.addFilter(_not_an_advert)
