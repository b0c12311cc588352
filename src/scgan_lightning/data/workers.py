"""DataLoader workers and preemption: the main process alone answers SIGTERM / SIGUSR1.

Schedulers send those signals to the whole process group before killing a job; a worker
killed by one would crash the run before the main process saves (``training/preemption.py``).
So workers ignore both (``ignore_preemption_signals``, the loaders' ``worker_init_fn``), and
because they do, multiprocessing's exit handler (SIGTERM, then join) could not end a worker
left mid-epoch and the process would hang at exit: this module's exit handler kills the
daemonic children first (``kill_daemonic_children``).
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.util  # registers its exit handler now, so that ours runs before it
import signal

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
