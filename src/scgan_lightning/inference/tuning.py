"""``precision=auto`` and ``channels_last=auto``: chosen by timing, never by CPU flags.

Flags mislead: an AVX-512 BF16 Xeon without AMX ran the restorer slower in bf16 than in
float32. So each candidate runs a warm-up batch and is then timed; bf16 is taken only when it
beats the fastest float32 candidate by ``BF16_MARGIN`` (its outputs deviate slightly, so a tie
goes to float32). The choice is cached per machine (CPU model or GPU name), torch version,
model size and batch size in ``<user cache>/scgan_lightning/run_settings.json``
(``settings_cache``, which ``train``'s automatic choices share).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from ..settings_cache import CACHE_FILE, cache_path, machine_prefix, read_cache, write_entry
from .engine import RunSettings, restore_batch

__all__ = ["CACHE_FILE", "cache_path", "choose_settings", "fastest", "time_settings"]

BF16_MARGIN = 0.9  # bf16 must take at most 90% of float32's time
REPEATS = 3
Timer = Callable[[RunSettings], float]


def candidates(precision: str, channels_last: bool | str) -> list[RunSettings]:
    """Every setting that ``precision`` and ``channels_last`` (each maybe "auto") allow."""
    precisions = ["32", "bf16"] if precision == "auto" else [precision]
    layouts = [False, True] if channels_last == "auto" else [bool(channels_last)]
    return [RunSettings(p, layout) for p in precisions for layout in layouts]


def fastest(timings: Mapping[RunSettings, float]) -> RunSettings:
    """The fastest setting; bf16 only if it beats the best float32 one by ``BF16_MARGIN``."""
    best = min(timings, key=timings.__getitem__)
    float32 = {s: t for s, t in timings.items() if s.precision == "32"}
    if best.precision == "32" or not float32:
        return best
    best32 = min(float32, key=float32.__getitem__)
    return best if timings[best] <= BF16_MARGIN * float32[best32] else best32


def time_settings(
    model: nn.Module, lr: torch.Tensor, options: Iterable[RunSettings]
) -> dict[RunSettings, float]:
    """Seconds per batch of each setting: one warm-up, then the best of ``REPEATS`` runs,
    the settings taking turns so a burst of load elsewhere hits them all alike."""
    options = list(options)
    layouts = {True: torch.channels_last, False: torch.contiguous_format}

    def run(settings: RunSettings) -> float:
        model.to(memory_format=layouts[settings.channels_last])
        start = time.perf_counter()
        restore_batch(model, lr, settings.precision, settings.channels_last)
        if lr.device.type == "cuda":
            torch.cuda.synchronize(lr.device)
        return time.perf_counter() - start

    for settings in options:
        run(settings)
    best = {settings: float("inf") for settings in options}
    for _ in range(REPEATS):
        for settings in options:
            best[settings] = min(best[settings], run(settings))
    return best


def machine_key(device: torch.device, model: nn.Module, batch_size: int) -> str:
    """What a timing depends on: the processor, torch, the model's size, the batch."""
    params = sum(p.numel() for p in model.parameters())
    return f"{machine_prefix(device)} | {params} params | batch {batch_size}"


def _write_cache(path: Path, key: str, settings: RunSettings, timings: dict) -> None:
    write_entry(
        path,
        key,
        {
            "precision": settings.precision,
            "channels_last": settings.channels_last,
            "seconds": {s.label(): round(t, 5) for s, t in timings.items()},
        },
    )


def choose_settings(
    model: nn.Module,
    device: torch.device,
    precision: str,
    channels_last: bool | str,
    lr_size: int,
    batch_size: int,
    timer: Timer | None = None,
) -> RunSettings:
    """The run settings to use: fixed ones as given, "auto" ones by (cached) measurement.

    ``timer`` replaces the real timing (tests inject timings with it).
    """
    options = candidates(precision, channels_last)
    if device.type == "cuda" and precision == "auto" and not torch.cuda.is_bf16_supported():
        options = [s for s in options if s.precision == "32"]  # no bf16 on pre-Ampere GPUs
    if len(options) == 1:
        return options[0]
    key = f"{machine_key(device, model, batch_size)} | {' '.join(s.label() for s in options)}"
    path = cache_path()
    cached = read_cache(path).get(key)
    if timer is None and isinstance(cached, dict):
        settings = RunSettings(str(cached.get("precision")), bool(cached.get("channels_last")))
        if settings in options:
            return settings
    if timer is None:
        lr = torch.zeros(batch_size, 3, lr_size, lr_size, device=device).uniform_(-1, 1)
        timings = time_settings(model, lr, options)
    else:
        timings = {settings: timer(settings) for settings in options}
    choice = fastest(timings)
    _write_cache(path, key, choice, timings)
    return choice
