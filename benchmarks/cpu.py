#!/usr/bin/env python
"""Training and inference speed of SCGAN on this machine, against a plain released-style loop.

Why this script exists: SCGAN is compute-bound (about 310 GFLOP per image for one training
step at width 1.0), so the only honest question is how close each configuration gets to what
the CPU's convolution kernels can do, and whether it beats the plain loop users would write.
Everything runs in one invocation so that every number shares the machine's state:

* a convolution ceiling (3x3, 256->256, 32x32 maps) in fp32 NCHW, fp32 channels-last and bf16
  channels-last, measured at the start and the end (the best of both is the ceiling);
* the FLOPs of one baseline step, counted with ``FlopCounterMode`` (batch 1 and 2, extrapolated
  linearly: every op is per-sample except the batch-independent spectral-norm iteration);
* training variants, each in a fresh subprocess (its own peak RSS), their order reversed
  on every other repetition: the baseline (seven Adams, per-network backward and step, as
  released) and ``SCGANModule`` through a real ``pl.Trainer`` timed by a callback;
* predict end to end (read, restore, write PNG) with the project pipeline and a batch-1 loop;
* fidelity: bf16 vs float32 restorer outputs (PSNR on uint8) and training losses.

``--smoke`` is a tiny configuration for CI; ``--markdown PATH`` writes the tables into PATH
between ``<!-- benchmark:begin -->`` and ``<!-- benchmark:end -->`` (hand-written text around
the markers is kept). ``--choose-preset`` measures only the CPU training presets (fp32 NCHW,
fp32 channels-last, bf16 channels-last) and prints the overrides of the fastest.

This file is the command line and the order of work; ``benchmark_measure.py`` measures and
``benchmark_report.py`` renders.
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmark_measure import (
    DEFAULT_DATA,
    DEFAULT_VARIANTS,
    SMOKE_VARIANTS,
    VARIANTS,
    conv_ceiling,
    count_flops,
    machine_description,
    preset_overrides,
    probe_presets,
    run_predict,
    run_variant,
    training_fidelity,
)
from benchmark_report import Report, preset_choice, summarise_training, write_markdown


def spawn_variant(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one variant in a fresh interpreter so its peak RSS is its own."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_variant",
            name,
            "--_result",
            str(result_path),
            "--width",
            str(args.width),
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--data",
            str(args.data),
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not result_path.is_file():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {proc.returncode}"
            return {"variant": name, "error": reason[:300]}
        return json.loads(result_path.read_text())


# ------------------------------------------------------------------------------ main flow
def _brief(result: dict[str, Any]) -> str:
    steps = [round(t, 2) for t in result["warmup_s"] + result["step_s"]]
    return (
        f"steps (warm-up first) {steps} s, peak RSS {result['peak_rss_mib']:.0f} MiB, "
        f"CPU share {result['cpu_share']:.2f}"
    )


def log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def save_partial(report: Report, args: argparse.Namespace) -> None:
    """Write what is measured so far to ``--json``: a long run killed late still leaves data."""
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1, default=str))


def orchestrate(args: argparse.Namespace) -> Report:
    """The whole benchmark in this process, training variants in subprocesses."""
    started = time.perf_counter()
    report = Report(args=dict(vars(args), data=str(args.data)), machine=machine_description())
    report.args["started"] = time.strftime("%Y-%m-%d %H:%M")
    channels, size, cbatch = (64, 16, 8) if args.smoke else (256, 32, 32)
    report.args["ceiling_shape"] = f"{channels}->{channels} channels, {size}x{size}, batch {cbatch}"
    ceiling_repeats = 3 if args.smoke else 7
    log("convolution ceiling")
    report.ceiling_runs.append(conv_ceiling(channels, size, cbatch, ceiling_repeats))
    log(f"  {report.ceiling_runs[-1]}")
    log("counting FLOPs")
    report.flops = count_flops(args.width, args.batch, args.data, module=not args.smoke)
    log(f"  {report.flops}")

    variants = list(args.variants)
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rep in range(args.repeats):
        for name in variants if rep % 2 == 0 else variants[::-1]:
            log(f"training variant {name} (repetition {rep + 1})")
            result = spawn_variant(name, args)
            raw[name].append(result)
            log(f"  {result.get('error') or _brief(result)}")
    report.training = {name: summarise_training(raw[name], args.batch) for name in variants}
    save_partial(report, args)

    if args.faces > 0:
        log(f"predict, {args.faces} faces")
        with tempfile.TemporaryDirectory() as tmp:
            report.predict = run_predict(args, Path(tmp))
        save_partial(report, args)
        log(f"  {report.predict['seconds']}")
    if args.fidelity_steps > 0:
        log(f"training fidelity, {args.fidelity_steps} steps")
        report.fidelity = training_fidelity(args.fidelity_steps, args.fidelity_batch, args.data)

    log("convolution ceiling again")
    report.ceiling_runs.append(conv_ceiling(channels, size, cbatch, ceiling_repeats))
    report.wall_s = time.perf_counter() - started
    report.load_avg_end = os.getloadavg()[0]
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repetitions of every variant; order reversed every other one",
    )
    parser.add_argument("--faces", type=int, default=512, help="predict: faces (0 skips)")
    parser.add_argument("--predict-batch", type=int, default=16)
    parser.add_argument("--fidelity-steps", type=int, default=50, help="0 skips")
    parser.add_argument("--fidelity-batch", type=int, default=4)
    parser.add_argument(
        "--variants",
        type=lambda s: [v for v in s.split(",") if v],
        default=list(DEFAULT_VARIANTS),
        help=f"comma list of: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run for CI: width 0.125, batch 2, 2 steps, 16 faces",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables into this file")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument(
        "--render", type=Path, help="measure nothing: print (and --markdown) a saved --json"
    )
    parser.add_argument(
        "--choose-preset",
        action="store_true",
        help="time only the CPU training presets at --width/--batch (--steps per round, "
        "--repeats rounds, interleaved) and print the overrides of the fastest",
    )
    parser.add_argument("--_variant", dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--_result", dest="result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.width, args.batch, args.steps, args.warmup = 0.125, 2, 2, 1
        args.faces, args.predict_batch = 16, 8
        args.fidelity_steps, args.fidelity_batch = 2, 2
        if args.variants == list(DEFAULT_VARIANTS):
            args.variants = list(SMOKE_VARIANTS)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if "baseline" not in args.variants and args.variant is None:
        args.variants.insert(0, "baseline")
    if min(args.steps, args.batch) < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--steps and --batch must be >= 1, --warmup >= 0, --repeats >= 1")
    return args


def choose_preset(args: argparse.Namespace) -> int:
    """Print the CPU presets' step times and the training overrides of the fastest."""
    log(f"CPU preset probe: width {args.width}, batch {args.batch}, {args.repeats} round(s)")
    times = probe_presets(args.width, args.batch, args.steps, args.repeats, args.data)
    best, table = preset_choice(times, args.batch)
    print(table)
    print(f"fastest here: {best}\n  python -m scgan_lightning.train ... {preset_overrides(best)}")
    return 0


def _quiet() -> None:
    """Lightning's advice about workers and loggers is noise in a benchmark's output."""
    warnings.filterwarnings("ignore")
    import logging

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _quiet()
    if args.variant:
        result = run_variant(args.variant, args)
        args.result.write_text(json.dumps(result))
        return 0
    if args.choose_preset:
        return choose_preset(args)
    args.command = "python scripts/benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.render:
        report = Report(**json.loads(args.render.read_text()))
    else:
        report = orchestrate(args)
        save_partial(report, args)
    body = report.markdown()
    print(body)
    if args.markdown:
        write_markdown(args.markdown, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
