#!/usr/bin/env python
"""The automatic speed choices against the plain float32 NCHW loop, in one run, as ratios.

Why one run: a ratio is only meaningful when both sides share the machine's state (load,
thermal, other jobs), so every comparison here alternates its sides (ABBA order).

* Training, per phase (the degrader-only step and the full semi-cycled step), on the model
  of ``--experiment`` (the demo's by default) at ``--width``/``--batch``: ``SCGANModule`` with
  ``trainer.precision=auto model.channels_last=auto model.adam_impl=auto`` against the same
  module in float32, NCHW, default Adam (the reference auto must beat by ``autotune.MARGIN``).
  The first auto run starts from an empty cache, so its first steps run the candidates in turn
  while they are timed (``SpeedTuning``); what that costs is reported apart: those steps'
  seconds against the same number of plain steps. The second auto run reads the cache. Steps
  are timed by ``measuring.trainer_runs.StepTimer`` through a real ``pl.Trainer``; the fastest
  step after tuning counts on each side (a starved step on a shared CPU cannot inflate it).
* Prediction: ``predict(precision=auto, channels_last=auto)`` against ``predict`` in float32
  NCHW at the same batch and the batch-1 float32 loop, end to end on ``--faces`` faces; auto's
  first run (empty cache: its first batches run the candidates) is reported apart.

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

from measuring.batches import DEFAULT_DATA, SEED, make_batches
from measuring.machine import machine_description
from measuring.predict_runs import predict_baseline_loop, predict_project, prepare_predict
from measuring.trainer_runs import fit_module
from scgan_lightning.autotune.tuner import ROUNDS
from scgan_lightning.training.speed_tuning import SpeedTuning

PHASES = ("degrader-only", "semi-cycled")
PLAIN = {"channels_last": False, "adam_impl": "default"}
AUTO = {"channels_last": "auto", "adam_impl": "auto"}


def experiment_model(args: argparse.Namespace) -> dict[str, Any]:
    """The ``model`` node of ``--experiment`` at ``--width`` (other widths scaled alike)."""
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={args.experiment}", "paths.root_dir=."])
    model = OmegaConf.to_container(cfg.model, resolve=True)
    scale = args.width / model["net"]["width"]
    for key in ("degrader", "discriminator"):
        model[key]["width"] *= scale
    model["net"]["width"] = args.width
    if scale != 1.0:
        model["init_from"] = None  # the bundled restorer has the experiment's width
    return model


def build(model: dict[str, Any], phase: str, speed: dict[str, Any], auto_precision: bool):
    torch.manual_seed(SEED)
    pretrain = 10**9 if phase == "degrader-only" else 0
    # A budget no timed run reaches.
    stages = {**model["stages"], "pretrain": pretrain, "semi_cycled": 10**9, "content_warmup": 0}
    module = hydra.utils.instantiate({**model, **speed, "stages": stages})
    if auto_precision:
        module.use_auto_precision()
    return module


def tuning_steps(module: Any, phase: str) -> int:
    """How many steps of ``phase`` ran while its candidates were being timed."""
    (tuning,) = [c for c in module.trainer.callbacks if isinstance(c, SpeedTuning)]
    return tuning.tuners[phase].timed_units


def train_phase(args: argparse.Namespace, model: dict[str, Any], phase: str) -> dict[str, Any]:
    """Auto against plain in one phase, in the order plain, auto (empty cache: it tunes), auto
    (cached), plain; every run ``--steps`` steps after the longest tuning plan."""
    steps = 3 * (1 + ROUNDS) + args.steps  # three candidates: a warm-up and the timed rounds
    batches = make_batches(min(steps, 4), args.batch, args.data)
    schedule = [batches[i % len(batches)] for i in range(steps)]
    runs: dict[str, list[float]] = {}
    choice, tuned = None, 0
    for side in ("plain", "auto_first", "auto_cached", "plain_again"):
        auto = side.startswith("auto")
        module = build(model, phase, AUTO if auto else PLAIN, auto)
        runs[side] = fit_module(module, schedule, "32-true").times
        if side == "auto_first":
            tuned = tuning_steps(module, phase)
            choice = module.speed_settings[phase].label()
    plain = min(runs["plain"][1:] + runs["plain_again"][1:])
    settled = runs["auto_first"][tuned:] + runs["auto_cached"][1:]
    auto = min(settled)
    plain_window = runs["plain"][:tuned] + runs["plain_again"][:tuned]
    return {
        "phase": phase,
        "choice": choice,
        "plain_step_s": plain,
        "auto_step_s": auto,
        "speedup": plain / auto,
        "tuning_steps": tuned,
        "tuning_s": sum(runs["auto_first"][:tuned]),
        # The tuning steps against the same steps run plain (the mean of the two plain runs).
        "tuning_vs_plain_s": sum(runs["auto_first"][:tuned]) - sum(plain_window) / 2,
        "steps_s": runs,
    }


def prediction(args: argparse.Namespace) -> dict[str, Any]:
    """``predict`` auto (its first run, on an empty cache, tunes on its first batches) against
    ``predict`` in float32 NCHW at the same batch (the ratio auto must not lose) and the
    batch-1 float32 loop, in rotating order."""
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
        f"{a['batch']} (runs plain, auto tuning, auto cached, plain, each {a['steps']} steps "
        "past the tuning plan; the fastest step of each side):",
        "",
        "| phase | auto chose | float32 NCHW s/step | auto s/step | auto vs plain | "
        "tuning steps | their s | vs as many plain steps |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["training"]:
        lines.append(
            f"| {r['phase']} | {r['choice']} | {r['plain_step_s']:.3f} | {r['auto_step_s']:.3f} "
            f"| {r['speedup']:.2f}x | {r['tuning_steps']} | {r['tuning_s']:.1f} "
            f"| {r['tuning_vs_plain_s']:+.1f} s |"
        )
    p = report["prediction"]
    lines += [
        "",
        f"Prediction, {p['faces']} faces end to end: predict float32 NCHW {p['fp32_s']:.2f} s, "
        f"predict auto {p['auto_s']:.2f} s (cached choice): **{p['speedup_vs_fp32']:.2f}x**; "
        f"the batch-1 float32 loop {p['loop_s']:.2f} s ({p['speedup']:.2f}x); auto's first "
        f"run, tuning on its first batches, {p['auto_first_run_s']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="steps per run after tuning")
    parser.add_argument("--rounds", type=int, default=3, help="predict rounds (>= 2)")
    parser.add_argument("--faces", type=int, default=256, help="enough batches to tune on")
    parser.add_argument("--predict-batch", type=int, default=16)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="tiny: checks the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.width, args.batch, args.steps, args.rounds = 0.0625, 2, 1, 2
        args.faces, args.predict_batch = 40, 4
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
        os.environ["SCGAN_CACHE_DIR"] = cache  # every choice is timed afresh in this run
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
