#!/usr/bin/env python
"""Training speed on one CUDA GPU: eager against the fast path, widths x batch sizes, one run.

Why a separate command: a GPU is lent for minutes, so everything it should measure is prepared
here and runs in one go (the default grid takes about 4 minutes on an H100/H200), and every
result is appended to ``<out>/gpu_benchmark.jsonl`` the moment it exists, so a run cut short
still leaves what it measured. ``<out>/gpu_benchmark.md`` is rewritten after every cell.

Per cell (width, batch, path), all through the ``measuring`` package: the SCGAN module trained
by a real ``pl.Trainer`` on fixed random batches, ``--warmup`` untimed steps, then ``--steps``
timed ones between two ``torch.cuda.synchronize()`` calls (none per step), peak memory of those
steps (``measuring.machine.peak_memory_mib``), and the host syncs one step makes, counted with
``torch.cuda.set_sync_debug_mode``. Paths:

* ``eager``: bf16-mixed, NCHW, default Adam: the configuration measured at 273 img/s on an H200;
* ``fast``: bf16-mixed, channels-last, fused Adam;
* ``fast_compiled`` (opt-in, ``--paths``): ``fast`` with the generators compiled
  (``mode="max-autotune-no-cudagraphs"``; the discriminators' spectral norm is not traceable).

``--smoke`` runs a tiny grid on the CPU, so CI keeps the command working without a GPU.
Usage on a lent GPU:  ``python benchmarks/gpu.py --out "$OUT"``.

``--prepared`` is the one device run of issue 20 (at most ``--budget-s``, 9 minutes by default):
eager against the fast path (``FAST``: bf16, channels-last, fused Adam, the generators compiled
with CUDA graphs, the face set on the device) through ``python -m scgan_lightning.train``
itself, at widths 1.0 and 0.5 and batch 64 and 128, with images/s, peak memory and both paths'
losses over the same 50 steps (``measuring.trainer_runs.RunTimer``, given to the command as a
callback), then, in the time left, ``tools/gpu_train_recipe.py --experiment bench_scgan`` at
width 0.5, whose restorer and metrics land in ``$OUT/recipe`` every 90 s. Its data is
``data/demo`` (in the working tree). ``--prepared --smoke`` runs the same plan on the CPU in a
few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from measuring.batches import make_batches
from measuring.machine import machine_description, peak_memory_mib
from measuring.trainer_runs import build_module, fit_module

PATHS = {
    "eager": {"channels_last": False, "adam_impl": "default", "compile_mode": None},
    "fast": {"channels_last": True, "adam_impl": "fused", "compile_mode": None},
    "fast_compiled": {
        "channels_last": True,
        "adam_impl": "fused",
        "compile_mode": "max-autotune-no-cudagraphs",
    },
}


REPO = Path(__file__).resolve().parents[1]
# The command's two paths; both bf16-mixed (the precision of the 273 img/s measurement).
EAGER = ["model.channels_last=false", "model.adam_impl=default", "model.compile=false"]
FAST = [
    "model.channels_last=true",
    "model.adam_impl=fused",
    "model.compile=reduce-overhead",
    "data.on_device=true",
]
CLI_STEPS, CLI_WARMUP = 50, 10  # iterations timed and untimed per cell (compilation: warm-up)


def train_command(width: float, batch: int, path: str, result: Path, scratch: Path, smoke: bool):
    """One cell: ``scgan_official``'s step on the demo's controlled halves, no validation, no
    checkpoints, ``RunTimer`` writing ``result``."""
    demo = REPO / "data" / "demo"
    warmup, steps = (1, 2) if smoke else (CLI_WARMUP, CLI_STEPS)
    speed = FAST if path == "fast" else EAGER
    if smoke:  # the CPU: float32 (bf16 is slow on some), no compilation (minutes there)
        speed = [o for o in speed if not o.startswith("model.compile")]
    return [
        sys.executable,
        "-m",
        "scgan_lightning.train",
        "experiment=scgan_official",
        "data=controlled",
        f"data.sources=[{demo / 'hr_train'}]",
        f"data.val_sources=[{demo / 'hr_val'}]",
        f"data.set_dir={scratch / 'controlled_set'}",
        f"paths.log_dir={scratch / 'runs'}",
        f"model.net.width={width}",
        f"data.batch_size={batch}",
        f"model.stages.semi_cycled={warmup + steps}",
        "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "trainer.log_every_n_steps=100000",
        *([] if smoke else ["trainer.precision=bf16-mixed"]),
        "print_config=false",
        "~logger",
        "~callbacks.progress_bar",
        "~callbacks.model_checkpoint",
        "~callbacks.validation_grid",
        "+callbacks.run_timer._target_=measuring.trainer_runs.RunTimer",
        f"+callbacks.run_timer.path={result}",
        f"+callbacks.run_timer.warmup={warmup}",
        *(["trainer=cpu", "trainer.precision=32"] if smoke else ["trainer=gpu"]),
        *speed,
    ]


def cli_cell(width: float, batch: int, path: str, args: argparse.Namespace, scratch: Path):
    """Run one cell through the training command; its RunTimer result, or the error."""
    result = args.out / "cells" / f"w{width}_b{batch}_{path}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "benchmarks"), *sys.path])}
    command = train_command(width, batch, path, result, scratch, args.smoke)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    (args.out / "cells" / f"w{width}_b{batch}_{path}.log").write_text(proc.stdout + proc.stderr)
    row: dict[str, Any] = {"width": width, "batch": batch, "path": path}
    if proc.returncode != 0 or not result.is_file():
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1:]
        return {**row, "error": (tail[0] if tail else f"exit {proc.returncode}")[:300]}
    timing = json.loads(result.read_text())
    return {**row, **timing}


def cli_markdown(env: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Eager and fast side by side per cell, and the fast path's losses against eager's."""
    eager = {(r["width"], r["batch"]): r for r in rows if r["path"] == "eager" and "error" not in r}
    lines = [
        f"Device: {env['device']}; torch {env['torch']}; started {env['started']}; through "
        "`python -m scgan_lightning.train` (bf16-mixed; fast = " + " ".join(FAST) + ").",
        "",
        "| width | batch | path | images/s | vs eager | peak MiB | steps | "
        "max rel. loss deviation from eager |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['width']} | {r['batch']} | {r['path']} | failed: {r['error']} |")
            continue
        base = eager.get((r["width"], r["batch"]))
        ratio = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base else "-"
        deviation = "-"
        if base and r["path"] != "eager":
            deviation = f"{loss_deviation(base['losses'], r['losses']):.2e}"
        lines.append(
            f"| {r['width']} | {r['batch']} | {r['path']} | {r['images_per_s']:.1f} | {ratio} | "
            f"{r['peak_memory_mib']:.0f} | {r['timed_steps']} | {deviation} |"
        )
    return "\n".join(lines) + "\n"


def loss_deviation(reference: list[dict], other: list[dict]) -> float:
    """Largest |other - reference| / mean |reference| over the steps and the seven losses."""
    keys = ("D_L1", "D_H1", "D_L2", "D_H2", "G_DHL", "G_RLS", "G_DSL")
    worst = 0.0
    for key in keys:
        pairs = [(a[key], b[key]) for a, b in zip(reference, other, strict=False) if key in a]
        if pairs:
            scale = max(sum(abs(a) for a, _ in pairs) / len(pairs), 1e-8)
            worst = max(worst, max(abs(b - a) for a, b in pairs) / scale)
    return worst


def prepared(args: argparse.Namespace) -> int:
    """The issue-20 device run: cells through the training command, then the recipe."""
    started = time.perf_counter()
    env = environment(args)
    rows: list[dict[str, Any]] = []
    table, sink_path = args.out / "train_cli.md", args.out / "train_cli.jsonl"
    widths, batches = ([0.0625], [2]) if args.smoke else ([1.0, 0.5], [64, 128])
    recipe_reserve = 30.0 if args.smoke else 150.0  # the recipe's least useful time
    with tempfile.TemporaryDirectory() as scratch, sink_path.open("a") as sink:
        sink.write(json.dumps({"environment": env}) + "\n")
        for width in widths:
            for batch in batches:
                for path in ("eager", "fast"):
                    if time.perf_counter() - started > args.budget_s - recipe_reserve - 60:
                        print(f"budget: skipping width {width} batch {batch} {path}", flush=True)
                        continue
                    row = cli_cell(width, batch, path, args, Path(scratch))
                    rows.append(row)
                    sink.write(json.dumps({k: v for k, v in row.items() if k != "losses"}) + "\n")
                    sink.flush()
                    (args.out / "losses.json").write_text(json.dumps(rows))
                    table.write_text(cli_markdown(env, rows))
                    print(json.dumps({k: v for k, v in row.items() if k != "losses"}), flush=True)
    left_min = (args.budget_s - (time.perf_counter() - started) - 45) / 60
    recipe = [
        sys.executable,
        str(REPO / "tools" / "gpu_train_recipe.py"),
        "--experiment",
        "bench_scgan",
        "--width",
        "0.5",
        "--minutes",
        f"{max(left_min, 1.0):.2f}",
        "--every",
        "90",
        "--out",
        str(args.out / "recipe"),
        *(["--smoke"] if args.smoke else ["--fast", *FAST]),
    ]
    print(f"recipe for {left_min:.1f} min: {' '.join(recipe)}", flush=True)
    code = subprocess.run(recipe, cwd=REPO, check=False).returncode
    print(table.read_text() if table.is_file() else "no cell ran")
    return code if rows and all("error" not in r for r in rows) else 1


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
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="the issue-20 run: cells through the training command, then the bench_scgan "
        "recipe (--budget-s 540 unless given)",
    )
    args = parser.parse_args(argv)
    if args.prepared and "--budget-s" not in (argv if argv is not None else sys.argv):
        args.budget_s = 540.0
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
    if args.prepared:
        return prepared(args)
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
