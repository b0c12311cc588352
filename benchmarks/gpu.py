#!/usr/bin/env python
"""Training speed on one CUDA GPU: eager against the fast path, widths x batch sizes, one run.

Why a separate command: a GPU is lent for minutes, so everything it should measure is prepared
here and runs in one go (the default grid takes about 4 minutes on an H100/H200), and every
result is appended to ``<out>/gpu_benchmark.jsonl`` the moment it exists, so a run cut short
still leaves what it measured. ``<out>/gpu_benchmark.md`` is rewritten after every cell.

Per cell (width, batch, path), all through ``measure.py``: the SCGAN module trained by a real
``pl.Trainer`` on fixed random batches, ``--warmup`` untimed steps, then ``--steps`` timed ones
between two ``torch.cuda.synchronize()`` calls (none per step), peak memory of those steps
(``measure.peak_memory_mib``), and the host syncs one step makes, counted with
``torch.cuda.set_sync_debug_mode``. Paths:

* ``eager``: bf16-mixed, NCHW, default Adam: the configuration measured at 273 img/s on an H200;
* ``fast``: bf16-mixed, channels-last, fused Adam;
* ``fast_compiled`` (opt-in, ``--paths``): ``fast`` with the generators compiled
  (``mode="max-autotune-no-cudagraphs"``; the discriminators' spectral norm is not traceable).

``--smoke`` runs a tiny grid on the CPU, so CI keeps the command working without a GPU.
Usage on a lent GPU:  ``python benchmarks/gpu.py --out "$OUT"``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from measure import build_module, fit_module, machine_description, make_batches, peak_memory_mib

PATHS = {
    "eager": {"channels_last": False, "adam_impl": "default", "compile_mode": None},
    "fast": {"channels_last": True, "adam_impl": "fused", "compile_mode": None},
    "fast_compiled": {
        "channels_last": True,
        "adam_impl": "fused",
        "compile_mode": "max-autotune-no-cudagraphs",
    },
}


class SyncCounter(pl.Callback):
    """Host syncs during the last training batch, as ``set_sync_debug_mode`` reports them."""

    def __init__(self, last_batch: int) -> None:
        self.last_batch = last_batch
        self.syncs: int | None = None
        self._caught: Any = None
        self._records: list = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.last_batch and torch.cuda.is_available():
            self._caught = warnings.catch_warnings(record=True)
            self._records = self._caught.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.last_batch and self._caught is not None:
            torch.cuda.set_sync_debug_mode("default")
            self._caught.__exit__(None, None, None)
            self.syncs = sum("synchroniz" in str(w.message) for w in self._records)


def run_cell(width: float, batch: int, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """One (width, batch, path) measurement."""
    module = build_module(width, **PATHS[path])
    total = args.warmup + args.steps
    data = make_batches(min(total, 8), batch, data=None)
    schedule = [data[i % len(data)] for i in range(total)]
    cuda = args.accelerator == "gpu"
    syncs = SyncCounter(total - 1)
    started = time.perf_counter()
    timer = fit_module(
        module,
        schedule,
        args.precision,
        accelerator=args.accelerator,
        callbacks=[syncs],
        warmup=args.warmup,
    )
    return {
        "width": width,
        "batch": batch,
        "path": path,
        "precision": args.precision,
        "timed_steps": timer.window_steps,
        "seconds": timer.window_s,
        "images_per_s": batch * timer.window_steps / timer.window_s,
        "peak_memory_gib": peak_memory_mib("cuda") / 1024 if cuda else None,
        "host_syncs_last_step": syncs.syncs,
        "cell_wall_s": time.perf_counter() - started,
    }


def environment(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_description()
    return {
        "device": machine["gpu"] or machine["cpu"],
        **machine,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def markdown(env: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The PERFORMANCE.md table: each path's images/s next to eager's at the same cell."""
    eager = {(r["width"], r["batch"]): r["images_per_s"] for r in rows if r["path"] == "eager"}
    lines = [
        f"Device: {env['device']}; torch {env['torch']}, Lightning {env['lightning']}; "
        f"started {env['started']}.",
        "",
        "| width | batch | path | images/s | vs eager | peak GiB | host syncs in one step |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['width']} | {r['batch']} | {r['path']} | failed: {r['error']} |")
            continue
        base = eager.get((r["width"], r["batch"]))
        ratio = f"{r['images_per_s'] / base:.2f}x" if base else "-"
        peak = "-" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.2f}"
        syncs = "-" if r["host_syncs_last_step"] is None else str(r["host_syncs_last_step"])
        lines.append(
            f"| {r['width']} | {r['batch']} | {r['path']} | {r['images_per_s']:.1f} | {ratio} | "
            f"{peak} | {syncs} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_benchmark")))
    parser.add_argument("--widths", type=lambda s: [float(w) for w in s.split(",")])
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")])
    parser.add_argument("--paths", type=lambda s: s.split(","), default=["eager", "fast"])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument(
        "--budget-s", type=float, default=420.0, help="start no new cell after this many seconds"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny grid on the CPU (for CI)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {unknown}; choose from {', '.join(PATHS)}")
    if args.smoke:
        args.accelerator = "cpu"
        args.widths, args.batches = args.widths or [0.0625], args.batches or [2]
        args.warmup, args.steps = 1, 1
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA GPU here (use --smoke for the CPU check)")
        args.accelerator = "gpu"
        args.widths, args.batches = args.widths or [1.0, 0.5, 0.25], args.batches or [64, 128]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    results, table = args.out / "gpu_benchmark.jsonl", args.out / "gpu_benchmark.md"
    env = environment(args)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with results.open("a") as sink:
        sink.write(json.dumps({"environment": env}) + "\n")
        sink.flush()
        for width in args.widths:
            for batch in args.batches:
                for path in args.paths:
                    if time.perf_counter() - started > args.budget_s:
                        print(f"budget spent: skipping width {width} batch {batch} {path}")
                        continue
                    try:
                        row = run_cell(width, batch, path, args)
                    except Exception as err:  # one failing cell must not lose the others
                        row = {"width": width, "batch": batch, "path": path, "error": repr(err)}
                    rows.append(row)
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    table.write_text(markdown(env, rows))
                    print(json.dumps(row), flush=True)
    print(table.read_text())
    return 0 if rows and all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
