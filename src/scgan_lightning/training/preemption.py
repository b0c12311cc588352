"""Preemption: save on SIGTERM/SIGUSR1 after the current batch, then stop.

Schedulers (SLURM, Kubernetes, spot instances) send SIGTERM or SIGUSR1 to the whole process
group shortly before killing a job. For the work since the last periodic checkpoint to
survive, the main process saves ``last.ckpt`` and stops (``CheckpointOnSignal``), and the
DataLoader workers stay out of the way (``data/workers.py``: they ignore both signals, and
are killed at exit).
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytorch_lightning as pl

from ..data.workers import PREEMPTION_SIGNALS

log = logging.getLogger(__name__)


class CheckpointOnSignal(pl.Callback):
    """On SIGTERM or SIGUSR1, save ``last.ckpt`` after the current batch and stop.

    Lightning already turns SIGTERM into a clean exit after the batch, but saves nothing.
    A signal that arrives during validation is saved at the end of that validation: Lightning
    stops before the next training batch, whose hook would never run.
    """

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.requested = False
        self._previous: dict[int, object] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        for sig in PREEMPTION_SIGNALS:
            previous = signal.getsignal(sig)
            self._previous[sig] = previous

            def handler(signum, frame, previous=previous) -> None:
                self.requested = True
                if callable(previous):
                    previous(signum, frame)

            signal.signal(sig, handler)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._save_if_signalled(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._save_if_signalled(trainer)

    def _save_if_signalled(self, trainer) -> None:
        if not (self.requested or trainer.received_sigterm):
            return
        trainer.save_checkpoint(self.path)
        log.warning("signal received: checkpoint saved to %s, stopping", self.path)
        trainer.should_stop = True
        self.requested = False

    def on_fit_end(self, trainer, pl_module) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
