#!/usr/bin/env python
"""The automatic speed choices against the plain float32 NCHW loop, in one run, as ratios.

Why one run: a ratio is only meaningful when both sides share the machine's state (load,
thermal, other jobs), so every comparison here alternates its two sides in ABAB order.

* Training, per phase (the degrader-only step and the full semi-cycled step), on the model
  of ``--experiment`` (the demo's by default) at ``--width``/``--batch``: ``SCGANModule`` with
  ``trainer.precision=auto model.channels_last=auto model.adam_impl=auto`` (its probe runs on
  its first step, against an empty cache, and is reported apart: seconds and step-equivalents)
  against the same module in float32, NCHW, default Adam (the reference auto must beat by 5%).
  Steps are timed by ``measure.StepTimer`` through a real ``pl.Trainer``; the fastest step of
  each side counts (a starved step on a shared CPU cannot inflate it).
* Prediction: ``predict(precision=auto, channels_last=auto)`` (probe included on its first run,
  timed apart) against the batch-1 float32 NCHW loop, end to end on ``--faces`` faces.

``--quick`` is a tiny setting that checks the script works (no meaningful figures).
Usage (an idle machine):  python benchmarks/auto_speed.py --json auto_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from measure import (
    DEFAULT_DATA,
    SEED,
    fit_module,
    machine_description,
    make_batches,
    predict_baseline_loop,
    predict_project,
    prepare_predict,
)

PHASES = ("degrader-only", "semi-cycled")
PLAIN = {"channels_last": False, "adam_impl": "default"}
AUTO = {"channels_last": "auto", "adam_impl": "auto"}


def experiment_model(args: argparse.Namespace) -> dict[str, Any]:
    """The ``model`` node of ``--experiment`` at ``--width`` (other widths scaled alike)."""
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={args.experiment}", "paths.root_dir=."])
    model = OmegaConf.to_container(cfg.model, resolve=True)
    scale = args.width / model["width"]
    for key in ("degrader_width", "discriminator_width"):
        if model.get(key):
            model[key] *= scale
    model["width"] = args.width
    if scale != 1.0:
        model["init_from"] = None  # the bundled restorer has the experiment's width
    return model


def build(model: dict[str, Any], phase: str, speed: dict[str, Any], auto_precision: bool):
    torch.manual_seed(SEED)
    pretrain = 10**9 if phase == "degrader-only" else 0
    module = hydra.utils.instantiate(
        {**model, **speed, "pretrain_iterations": pretrain, "content_warmup_iterations": 0}
    )
    if auto_precision:
        module.use_auto_precision()
    return module


def train_phase(args: argparse.Namespace, model: dict[str, Any], phase: str) -> dict[str, Any]:
    """Auto against plain in one phase: ``--rounds`` ABAB rounds of ``--steps`` steps each."""
    batches = make_batches(min(args.steps + 1, 4), args.batch, args.data)
    schedule = [batches[i % len(batches)] for i in range(args.steps + 1)]
    times: dict[str, list[float]] = {"plain": [], "auto": []}
    first_auto: list[float] = []
    choice = None
    for index in range(args.rounds):
        order = ("plain", "auto") if index % 2 == 0 else ("auto", "plain")
        for side in order:
            module = build(model, phase, AUTO if side == "auto" else PLAIN, side == "auto")
            timer = fit_module(module, schedule, "32-true")
            times[side] += timer.times[1:]  # the first step builds kernels (and probes)
            if side == "auto":
                first_auto.append(timer.times[0])
                choice = module.speed_settings[phase].label()
    plain, auto = min(times["plain"]), min(times["auto"])
    # The first auto run probed (empty cache); later ones read the cache: the difference of
    # their first steps is the probe's cost.
    probe_s = first_auto[0] - (min(first_auto[1:]) if len(first_auto) > 1 else auto)
    return {
        "phase": phase,
        "choice": choice,
        "plain_step_s": plain,
        "auto_step_s": auto,
        "speedup": plain / auto,
        "probe_s": probe_s,
        "probe_steps": probe_s / plain,
        "steps_s": times,
    }


def prediction(args: argparse.Namespace) -> dict[str, Any]:
    """``predict`` auto (its first run probes) against ``predict`` in float32 NCHW at the same
    batch (the ratio auto must not lose) and the batch-1 float32 loop, in rotating order."""
    sides = ("loop", "fp32", "auto")
    times: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, inputs = prepare_predict(Path(tmp), args.width, args.faces, args.data)
        for index in range(max(args.rounds, 2)):
            for side in sides[index % 3 :] + sides[: index % 3]:
                output = Path(tmp) / f"out_{side}_{index}"
                start = time.perf_counter()
                if side == "loop":
                    predict_baseline_loop(ckpt, inputs, output)
                elif side == "fp32":
                    predict_project(ckpt, inputs, output, "32", args.predict_batch, False)
                else:
                    predict_project(ckpt, inputs, output, "auto", args.predict_batch, "auto")
                times[side].append(time.perf_counter() - start)
    cached = min(times["auto"][1:])
    return {
        "faces": args.faces,
        "loop_s": min(times["loop"]),
        "fp32_s": min(times["fp32"]),
        "auto_s": cached,
        "speedup": min(times["loop"]) / cached,
        "speedup_vs_fp32": min(times["fp32"]) / cached,
        "auto_first_run_s": times["auto"][0],
        "runs_s": times,
    }


def markdown(report: dict[str, Any]) -> str:
    a, m = report["args"], report["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['threads']} torch threads, torch {m['torch']}; load "
        f"{m['load_avg_1m']:.2f} at start, {report['load_avg_end']:.2f} at end; "
        f"{report['wall_s'] / 60:.1f} min.",
        "",
        f"Training, experiment={a['experiment']} model at width {a['width']}, batch "
        f"{a['batch']} ({a['rounds']} ABAB rounds of {a['steps']} timed steps, fastest step):",
        "",
        "| phase | auto chose | float32 NCHW s/step | auto s/step | auto vs plain | "
        "probe s (steps) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in report["training"]:
        lines.append(
            f"| {r['phase']} | {r['choice']} | {r['plain_step_s']:.3f} | {r['auto_step_s']:.3f} "
            f"| {r['speedup']:.2f}x | {r['probe_s']:.1f} ({r['probe_steps']:.1f}) |"
        )
    p = report["prediction"]
    lines += [
        "",
        f"Prediction, {p['faces']} faces end to end: predict float32 NCHW {p['fp32_s']:.2f} s, "
        f"predict auto {p['auto_s']:.2f} s (cached choice): **{p['speedup_vs_fp32']:.2f}x**; "
        f"the batch-1 float32 loop {p['loop_s']:.2f} s ({p['speedup']:.2f}x); auto's first "
        f"run, probe included, {p['auto_first_run_s']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="ABAB rounds (>= 2: probe cost)")
    parser.add_argument("--faces", type=int, default=128)
    parser.add_argument("--predict-batch", type=int, default=16)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="tiny: checks the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.width, args.batch, args.steps, args.rounds = 0.0625, 2, 1, 2
        args.faces, args.predict_batch = 4, 4
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    report: dict[str, Any] = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine_description(),
    }
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SCGAN_CACHE_DIR"] = cache  # every choice is probed afresh in this run
        model = experiment_model(args)
        report["training"] = []
        for phase in PHASES:
            report["training"].append(train_phase(args, model, phase))
            print(json.dumps(report["training"][-1]), file=sys.stderr, flush=True)
        report["prediction"] = prediction(args)
    report["wall_s"] = time.perf_counter() - started
    report["load_avg_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
