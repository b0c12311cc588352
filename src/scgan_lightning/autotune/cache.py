"""The one cache of choices made by timing, for training phases and for restoring alike.

A choice only changes with the machine, torch and the work timed, so each is kept in
``<user cache>/scgan_lightning/run_settings.json`` under a key naming those (``cache_key``).
Reading is cheap and happens when work is set up; writing happens only once a choice has
been timed, never at construction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..atomic import write_text
from ..errors import DiskFullError
from .settings import Settings

CACHE_FILE = "run_settings.json"


def processor_name(device: torch.device) -> str:
    """The chip a timing belongs to: the GPU's name, else the CPU's (``cpu_identity``)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        return cpu_identity(Path("/proc/cpuinfo").read_text())
    except OSError:
        return platform.processor() or platform.machine()


def cpu_identity(cpuinfo: str) -> str:
    """The CPU's model name with its family, model, stepping and a digest of its feature flags,
    from the text of ``/proc/cpuinfo``.

    A virtual machine often names very different CPUs alike ("Intel(R) Xeon(R) Processor", with
    and without AMX, where bf16 trains 2.5x faster or slower than float32), and a cache folder
    can outlive the machine under it; the flags only tell such chips apart, they never choose.
    """
    first = cpuinfo.split("\n\n", 1)[0]  # the first logical CPU's block
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in first.splitlines())
    }
    name = fields.get("model name") or platform.processor() or platform.machine()
    flags = hashlib.sha1(fields.get("flags", "").encode()).hexdigest()[:8]
    return (
        f"{name} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')} "
        f"stepping {fields.get('stepping', '?')}, flags {flags})"
    )


def cache_key(device: torch.device, model: nn.Module, work: str, options: list[Settings]) -> str:
    """Chip, torch, threads, the model (class and size), the work and the candidates."""
    params = sum(p.numel() for p in model.parameters())
    return (
        f"{processor_name(device)} | torch {torch.__version__} | {torch.get_num_threads()} "
        f"threads | {type(model).__name__} {params} params | {work} | "
        + " / ".join(s.label() for s in options)
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


def cached_choice(key: str, options: list[Settings]) -> Settings | None:
    """The choice stored under ``key``, if it is one of ``options``."""
    entry = read_cache(cache_path()).get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("settings"), dict):
        return None
    try:
        settings = Settings(**entry["settings"])
    except TypeError:
        return None
    return settings if settings in options else None


def store_choice(key: str, choice: Settings, seconds: dict[str, float]) -> None:
    """Add or replace one entry, atomically. Best effort: a read-only home only means timing
    again next time."""
    path = cache_path()
    data = read_cache(path)
    data[key] = {"settings": asdict(choice), "seconds": seconds}
    with contextlib.suppress(OSError, DiskFullError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
