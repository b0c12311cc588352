"""What the machine is and what a process used: the CPU, GPU and libraries of a run, peak
memory (one way per device), CPU seconds."""

from __future__ import annotations

import math
import os
import platform
import resource
from typing import Any

import pytorch_lightning as pl
import torch


def peak_memory_mib(device: str = "cpu") -> float:
    """The peak memory of this process on ``device``: CUDA's allocator peak on a GPU, else the
    process's own ``VmHWM`` (see ``status_mib``)."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return status_mib("VmHWM")


def status_mib(key: str) -> float:
    """``VmRSS``/``VmHWM`` of this process from ``/proc/self/status``, in MiB.

    Why not ``ru_maxrss``: Linux carries the parent's high-water mark across fork and exec
    into ``ru_maxrss``, so every child would report at least the orchestrator's peak.
    ``VmHWM`` belongs to the child's own address space.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    return math.nan


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_description() -> dict[str, Any]:
    """CPU model, cores, bf16 support, the GPU (if any), library versions, threads, load."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "bf16_isa": sorted(f for f in flags if "bf16" in f or f.startswith("amx")),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0],
    }
