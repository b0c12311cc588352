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

# ModelCheckpoint warns, with a 12-line example, whenever manual optimisation meets
# every_n_train_steps: it cannot know whether the state before or after the optimisers' steps is
# wanted. This project saves after every optimiser of an iteration has stepped, which is what a
# resume needs (tests/test_train_cli.py: a resumed run matches an uninterrupted one).
MANUAL_CHECKPOINT_MESSAGE = (
    r"Using ModelCheckpoint with manual optimization and every_n_train_steps"
)

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
    warnings.filterwarnings("ignore", message=MANUAL_CHECKPOINT_MESSAGE)
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if _not_an_advert not in logger.filters:
            logger.addFilter(_not_an_advert)
