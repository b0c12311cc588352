"""Preemption, in one place: save on SIGTERM/SIGUSR1, keep DataLoader workers out of the way.

Schedulers (SLURM, Kubernetes, spot instances) send SIGTERM or SIGUSR1 to the whole process
group shortly before killing a job. Three things must hold for the work since the last
periodic checkpoint to survive:

1. the main process saves ``last.ckpt`` after the current batch and stops (``CheckpointOnSignal``);
2. DataLoader workers ignore both signals, or a worker killed by SIGTERM would crash the run
   before the save (``ignore_preemption_signals``, the loaders' ``worker_init_fn``);
3. because workers ignore SIGTERM, multiprocessing's exit handler (SIGTERM, then join) cannot
   end a worker left mid-epoch, and the process would hang at exit; this module's exit handler
   kills the daemonic children first (``kill_daemonic_children``).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.util  # registers its exit handler now, so that ours runs before it
import signal
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger(__name__)

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def ignore_preemption_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: the main process alone answers preemption signals."""
    for sig in PREEMPTION_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def kill_daemonic_children() -> None:
    """Kill this process's daemonic children still running (DataLoader workers), at exit.

    multiprocessing's own exit handler would send them SIGTERM, which they ignore, and then
    wait for them forever; SIGKILL is what it meant.
    """
    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()
            child.join()


# atexit runs handlers last-in first-out: this one before multiprocessing.util's (imported above).
atexit.register(kill_daemonic_children)


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
