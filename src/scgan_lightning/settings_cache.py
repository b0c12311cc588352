"""The one cache of settings chosen by timing (``predict`` and ``train``'s "auto" choices).

Timing a candidate costs seconds to minutes, and its answer only changes with the machine, torch
and the work timed, so each choice is kept in ``<user cache>/scgan_lightning/run_settings.json``
under a key naming those; the callers build the key, this module owns the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path

import torch

from .atomic import write_text
from .errors import DiskFullError

CACHE_FILE = "run_settings.json"


def processor_name(device: torch.device) -> str:
    """The chip a timing belongs to: the GPU's name, else the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_prefix(device: torch.device) -> str:
    """The part of every key that names the machine: chip, torch version, threads."""
    return (
        f"{processor_name(device)} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    )


def cache_path() -> Path:
    """``$SCGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/scgan_lightning``, else ``~/.cache/...``."""
    if os.environ.get("SCGAN_CACHE_DIR"):
        return Path(os.environ["SCGAN_CACHE_DIR"]) / CACHE_FILE
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "scgan_lightning" / CACHE_FILE


def read_cache(path: Path) -> dict[str, dict]:
    """Every cached entry; an unreadable or foreign file is an empty cache."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_entry(path: Path, key: str, entry: dict) -> None:
    """Add or replace one entry, atomically. Best effort: a read-only home only means measuring
    again next time."""
    data = read_cache(path)
    data[key] = entry
    with contextlib.suppress(OSError, DiskFullError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
