"""Preemption: save on SIGTERM/SIGUSR1 after the current batch, then stop; let the launcher
requeue; continue where the job stopped.

Schedulers (SLURM, Kubernetes, spot instances) send SIGTERM or SIGUSR1 to the whole process
group shortly before killing a job. For the work since the last periodic checkpoint to
survive, the main process saves ``last.ckpt`` and stops (``CheckpointOnSignal``), and the
DataLoader workers stay out of the way (``data/workers.py``: they ignore both signals, and
are killed at exit).

Requeue has one owner per step. The project saves and resumes; the launcher requeues: submitit
(``hydra/launcher=slurm`` or ``local``) asks SLURM for SIGUSR1 before the time limit and
installs its requeue handler on it (``share_signal_with_submitit``), ``CheckpointOnSignal``
saves first and hands the signal on to that handler after the save, and the job that starts
again in its run directory continues from the saved checkpoint (``preempted_checkpoint``).
Lightning's own SLURM auto-requeue (a save from inside the signal handler, mid-step, and its
own ``scontrol requeue``) is switched off (``without_lightning_requeue``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import (
    ClusterEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
)
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities import rank_zero_only

from ..atomic import write_text
from ..data.workers import PREEMPTION_SIGNALS
from ..errors import UserError

log = logging.getLogger(__name__)

# What CheckpointOnSignal leaves beside the checkpoint it saved: the job stopped there on a
# signal, and one started again in the same run directory continues from that checkpoint.
PREEMPTED_MARKER = "preempted.json"
# submitit reads its signal from this variable when it is imported: the signal it asks SLURM
# for (``sbatch --signal``) and the one its requeue handler waits for in the job.
SUBMITIT_SIGNAL_VARIABLE = "SUBMITIT_PREEMPT_SIGNAL"
SUBMITIT_SIGNAL = "USR1"


def share_signal_with_submitit(argv: Sequence[str]) -> None:
    """Make submitit use SIGUSR1, before it is imported (the training command's first step).

    submitit's default, SIGUSR2, would reach its requeue handler alone, which exits at once,
    mid-step, with nothing saved. Its environment variable travels with the jobs (a local
    job's environment, sbatch's exported one), so the job side agrees with the sbatch line.
    Another signal set by the user is refused only for a multirun (``argv``, the command's
    arguments), the one kind of run a submitit launcher starts.
    """
    chosen = os.environ.setdefault(SUBMITIT_SIGNAL_VARIABLE, SUBMITIT_SIGNAL)
    multirun = {"-m", "--multirun", "hydra.mode=MULTIRUN"} & set(argv)
    if chosen != SUBMITIT_SIGNAL and multirun:
        raise UserError(
            f"{SUBMITIT_SIGNAL_VARIABLE}={chosen}: training saves its checkpoint on SIGUSR1 "
            f"or SIGTERM, so submitit must requeue on USR1; unset {SUBMITIT_SIGNAL_VARIABLE}"
        )


def without_lightning_requeue(plugins: list[Any]) -> list[Any]:
    """``plugins`` with Lightning's SLURM environment, auto-requeue off, when Lightning itself
    would choose SLURM (torchrun inside a SLURM job stays torchrun, as Lightning decides).

    Left on, Lightning would save ``hpc_ckpt_<n>.ckpt`` from inside the SIGUSR1 handler,
    wherever the step is, and requeue the job beside the launcher.
    """
    if any(isinstance(p, ClusterEnvironment) for p in plugins):
        return plugins
    if TorchElasticEnvironment.detect() or not SLURMEnvironment.detect():
        return plugins
    return [*plugins, SLURMEnvironment(auto_requeue=False)]


def preempted_checkpoint(dirpath: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint ``CheckpointOnSignal`` saved in ``dirpath`` when its job was stopped by a
    signal, with what it noted then; None when the last run there was not stopped that way."""
    marker = Path(dirpath) / PREEMPTED_MARKER
    if not marker.is_file():
        return None
    try:
        note = json.loads(marker.read_text())
        checkpoint = Path(dirpath) / note["checkpoint"]
    except (ValueError, TypeError, KeyError) as err:
        raise UserError(
            f"{marker}: not a note this project wrote ({err}); delete it, or resume with "
            f"ckpt_path={Path(dirpath) / 'last.ckpt'}"
        ) from err
    return (checkpoint, note) if checkpoint.is_file() else None


def keep_earlier_metrics(loggers: list[Any], iteration: int) -> list[Path]:
    """Rename each CSV logger's ``metrics.csv`` to ``metrics_to_iteration_<n>.csv`` before a
    continued job logs again: Lightning's CSV writer deletes the file it finds in its folder,
    which holds the attempt before the stop. Global rank 0 alone, the rank that logs; returns
    the renamed files."""
    kept: list[Path] = []
    if rank_zero_only.rank != 0:
        return kept
    for logger in loggers:
        if not isinstance(logger, CSVLogger):
            continue
        metrics = Path(logger.log_dir) / "metrics.csv"
        if metrics.is_file():
            kept.append(metrics.rename(metrics.with_name(f"metrics_to_iteration_{iteration}.csv")))
    return kept


class CheckpointOnSignal(pl.Callback):
    """On SIGTERM or SIGUSR1, save ``last.ckpt`` after the current batch and stop.

    Lightning already turns SIGTERM into a clean exit after the batch, but saves nothing.
    A signal that arrives during validation is saved at the end of that validation: Lightning
    stops before the next training batch, whose hook would never run. Under DDP the ranks
    agree on the batch (the save is collective; a rank signalled a batch later would hang).
    The handler a signal had before fit (submitit's requeue) runs after the save, not at the
    signal, so the job is requeued with its checkpoint on disk.
    """

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.marker = Path(dirpath) / PREEMPTED_MARKER
        self.received: list[int] = []
        self.stopped = False
        self._previous: dict[int, Any] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        self.stopped = False
        for sig in PREEMPTION_SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        if signum not in self.received:
            self.received.append(signum)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._save_if_signalled(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._save_if_signalled(trainer, pl_module)

    def _save_if_signalled(self, trainer, pl_module) -> None:
        signalled = bool(self.received) or trainer.received_sigterm
        if not trainer.strategy.reduce_boolean_decision(signalled, all=False):
            return
        trainer.save_checkpoint(self.path)
        received, self.received = self.received, []
        names = [signal.Signals(s).name for s in received]
        if not names and trainer.received_sigterm:
            names = ["SIGTERM"]
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        if trainer.is_global_zero:
            note = {"checkpoint": self.path.name, "signals": names, "iteration": iteration}
            write_text(self.marker, json.dumps(note, indent=2))
        log.warning(
            "%s: checkpoint saved to %s at iteration %s, stopping",
            "/".join(names) + " received" if names else "signal received by another rank",
            self.path,
            iteration,
        )
        trainer.should_stop = True
        self.stopped = True
        for signum in received:
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, None)  # submitit's: requeue this job and exit

    def on_fit_end(self, trainer, pl_module) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        if not self.stopped and trainer.is_global_zero:
            self.marker.unlink(missing_ok=True)  # finished: nothing left to continue
