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
the markers is kept).

This file is the command line, the order of work and the report (markdown tables, the
targets they are checked against, the marked block written into PERFORMANCE.md); the
``measuring`` package measures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from measuring.batches import DEFAULT_DATA
from measuring.fidelity import training_fidelity
from measuring.kernels import conv_ceiling, count_flops
from measuring.machine import machine_description
from measuring.predict_runs import PREDICT_VARIANTS, run_predict
from measuring.variants import DEFAULT_VARIANTS, SMOKE_VARIANTS, VARIANTS, run_variant

MARK_BEGIN, MARK_END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"

# Targets from the speed issue, checked on the measured figures.
TARGET_SPEEDUP = 1.5
TARGET_CEILING_FRACTION = 0.70
TARGET_PREDICT_SPEEDUP = 3.0
TARGET_MEMORY_RATIO = 1.10
TARGET_PSNR_DB = 40.0


@dataclass
class Report:
    """Everything measured in one run; rendered as markdown tables."""

    args: dict[str, Any]
    machine: dict[str, Any]
    ceiling_runs: list[dict[str, float]] = field(default_factory=list)
    flops: dict[str, float] = field(default_factory=dict)
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    predict: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    load_avg_end: float = 0.0

    @property
    def ceiling(self) -> dict[str, float]:
        """Best of the ceiling runs per mode: a ceiling is what the kernel can reach."""
        return {k: max(run[k] for run in self.ceiling_runs) for k in self.ceiling_runs[0]}

    def training_rows(self) -> list[dict[str, Any]]:
        base = self.training.get("baseline", {})
        base_ips = base.get("images_per_s")
        base_rss = base.get("peak_rss_mib")
        ceiling = self.ceiling
        fp32_ceiling = max(ceiling["fp32_nchw"], ceiling["fp32_cl"])
        rows = []
        for name, result in self.training.items():
            row = {"variant": name, "description": VARIANTS[name].description}
            if "error" in result:
                row["error"] = result["error"]
                rows.append(row)
                continue
            gflops = self.flops["baseline_step"] / result["median_step_s"] / 1e9
            own = ceiling["bf16_cl"] if VARIANTS[name].bf16 else fp32_ceiling
            row.update(
                images_per_s=result["images_per_s"],
                ratio=result["images_per_s"] / base_ips if base_ips else math.nan,
                gflops=gflops,
                frac_own=gflops / own,
                frac_bf16=gflops / ceiling["bf16_cl"],
                peak_rss=result["peak_rss_mib"],
                rss_ratio=result["peak_rss_mib"] / base_rss if base_rss else math.nan,
                step_increase=result["peak_rss_mib"] - result["rss_before_mib"],
                cpu_share=result["cpu_share"],
                best_images_per_s=result["best_images_per_s"],
                median_step_s=result["median_step_s"],
                steps=len(result["step_s"]),
            )
            rows.append(row)
        return rows

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """(target, measured, met) for each figure of the issue; None: not measured."""
        rows = [r for r in self.training_rows() if "error" not in r]
        by_name = {r["variant"]: r for r in rows}
        result: list[tuple[str, str, bool | None]] = []
        candidates = [r for r in rows if r["variant"] != "baseline"]
        if "baseline" in by_name and candidates:
            best = max(candidates, key=lambda r: r["images_per_s"])
            result.append(
                (
                    f"best training config >= {TARGET_SPEEDUP}x baseline images/s",
                    f"{best['variant']}: {best['ratio']:.2f}x",
                    best["ratio"] >= TARGET_SPEEDUP,
                )
            )
            result.append(
                (
                    f"best training config >= {TARGET_CEILING_FRACTION:.0%} of bf16 conv ceiling",
                    f"{best['variant']}: {best['gflops']:.0f} GFLOP/s = {best['frac_bf16']:.0%} "
                    f"of {self.ceiling['bf16_cl']:.0f}",
                    best["frac_bf16"] >= TARGET_CEILING_FRACTION,
                )
            )
            if "fp32" in by_name:
                fp32 = by_name["fp32"]
                result.append(
                    (
                        "fp32 config no slower than baseline",
                        f"fp32: {fp32['ratio']:.2f}x",
                        fp32["ratio"] >= 1.0,
                    )
                )
            result.append(
                (
                    f"training peak memory <= {TARGET_MEMORY_RATIO:.0%} of baseline",
                    f"{best['variant']}: {best['rss_ratio']:.0%} "
                    f"({best['peak_rss']:.0f} vs {by_name['baseline']['peak_rss']:.0f} MiB)",
                    best["rss_ratio"] <= TARGET_MEMORY_RATIO,
                )
            )
        if self.predict:
            seconds = self.predict["seconds"]
            base = seconds["loop_fp32_b1"]
            if "project_default" in seconds:
                best_name = "project_default"
            else:  # a saved run from before predict's fast defaults
                older = ("project_fp32", "project_bf16")
                shipped = {n: t for n, t in seconds.items() if n in older}
                best_name = min(shipped, key=shipped.get)
            result.append(
                (
                    f"predict >= {TARGET_PREDICT_SPEEDUP:.0f}x baseline loop",
                    f"{best_name}: {base / seconds[best_name]:.2f}x",
                    base / seconds[best_name] >= TARGET_PREDICT_SPEEDUP,
                )
            )
            fid = self.predict["fidelity_vs_loop_fp32"]["project_bf16"]
            result.append(
                (
                    f"bf16 vs fp32 restorer >= {TARGET_PSNR_DB:.0f} dB",
                    f"{fid['psnr_pooled_db']:.1f} dB pooled, "
                    f"worst face {fid['psnr_worst_db']:.1f} dB",
                    fid["psnr_worst_db"] >= TARGET_PSNR_DB,
                )
            )
        return result

    def markdown(self) -> str:
        a, m = self.args, self.machine
        c = self.ceiling
        lines = [
            f"Run: `{a['command']}`, {a.get('started', 'time not recorded')}, "
            f"{self.wall_s / 60:.1f} min in all.",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, bf16 ISA: "
            f"{', '.join(m['bf16_isa']) or 'none'}; torch {m['torch']}, Lightning "
            f"{m['lightning']}, Python {m['python']}, torch threads {m['threads']}; "
            f"1-min load average {m['load_avg_1m']:.2f} at start, {self.load_avg_end:.2f} at end.",
            "",
            f"### Convolution ceiling (3x3 forward, {a['ceiling_shape']}), GFLOP/s",
            "",
            "| layout | "
            + " | ".join(f"run {i + 1}" for i in range(len(self.ceiling_runs)))
            + " | ceiling (best) |",
            "|---|" + "---:|" * (len(self.ceiling_runs) + 1),
        ]
        for key, label in (
            ("fp32_nchw", "fp32 NCHW"),
            ("fp32_cl", "fp32 channels-last"),
            ("bf16_cl", "bf16 channels-last"),
        ):
            runs = " | ".join(f"{run[key]:.1f}" for run in self.ceiling_runs)
            lines.append(f"| {label} | {runs} | {c[key]:.1f} |")
        f = self.flops
        lines += [
            "",
            f"### Training, width {a['width']}, batch {a['batch']} "
            f"({a['warmup']} warm-up + {a['steps']} timed steps per variant, "
            f"{a['repeats']} repetition(s), median step)",
            "",
            f"FLOPs of one step (FlopCounterMode): baseline {f['baseline_step'] / 1e9:.1f} GFLOP "
            f"({f['baseline_step'] / a['batch'] / 1e9:.1f} per image); the module's step "
            + (
                "not counted (--smoke)"
                if math.isnan(f["module_step"])
                else f"{f['module_step'] / 1e9:.1f} GFLOP"
            )
            + " (it skips weight gradients of the "
            "discriminators in the generator backward, which the released loop computes and "
            "throws away). GFLOP/s below = baseline FLOPs / step time (useful work per second). "
            "Peak RSS: `VmHWM` of the variant's own process (not `ru_maxrss`, which Linux "
            "carries over from the parent across fork/exec); step increase: peak minus RSS "
            "after building the model. CPU share: CPU seconds / wall seconds of the variant's "
            f"steps (about {self.machine['threads']} on an idle machine; less means other "
            "work took cores and the step times are inflated).",
            "",
            "| variant | what | images/s | best step img/s | vs baseline | GFLOP/s | "
            "% own ceiling | "
            "% bf16 ceiling | peak RSS MiB | vs baseline | step increase MiB | CPU share |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.training_rows():
            if "error" in r:
                lines.append(
                    f"| {r['variant']} | {r['description']} | failed: "
                    f"{r['error'].replace('|', '/')} | | | | | | | | | |"
                )
                continue
            lines.append(
                f"| {r['variant']} | {r['description']} | {r['images_per_s']:.3f} | "
                f"{r['best_images_per_s']:.3f} | "
                f"{r['ratio']:.2f}x | {r['gflops']:.1f} | {r['frac_own']:.0%} | "
                f"{r['frac_bf16']:.0%} | {r['peak_rss']:.0f} | {r['rss_ratio']:.0%} | "
                f"{r['step_increase']:.0f} | {r['cpu_share']:.2f} |"
            )
        if self.predict:
            p = self.predict
            base = p["seconds"]["loop_fp32_b1"]
            per_face = self.flops["restorer_per_face"]
            lines += [
                "",
                f"### Predict end to end: {p['faces']} real 16x16 faces read, restored, written "
                f"as PNG (width {a['width']} restorer, random weights via save_restorer; "
                f"project batch size {a['predict_batch']})",
                "",
                f"Restorer forward: {per_face / 1e9:.2f} GFLOP per face.",
                "",
                "| variant | what | seconds | faces/s | vs loop | restorer GFLOP/s |",
                "|---|---|---:|---:|---:|---:|",
            ]
            for name, seconds in p["seconds"].items():
                lines.append(
                    f"| {name} | {PREDICT_VARIANTS[name]} | {seconds:.1f} | "
                    f"{p['faces'] / seconds:.1f} | {base / seconds:.2f}x | "
                    f"{per_face * p['faces'] / seconds / 1e9:.1f} |"
                )
            lines += [
                "",
                "### Fidelity",
                "",
                "Restorer outputs (uint8 PNG) against the fp32 batch-1 loop "
                f"({p['saturated_fraction']:.1%} of the loop's output pixels are 0 or 255):",
                "",
                "| variant | PSNR pooled dB | PSNR worst face dB | identical faces | "
                "max abs diff |",
                "|---|---:|---:|---:|---:|",
            ]
            for name, fid in p["fidelity_vs_loop_fp32"].items():
                lines.append(
                    f"| {name} | {fid['psnr_pooled_db']:.1f} | {fid['psnr_worst_db']:.1f} | "
                    f"{fid['identical_fraction']:.0%} | {fid['max_abs_diff']:.0f} |"
                )
        if self.fidelity:
            fid = self.fidelity
            lines += [
                "",
                f"Training losses, bf16-mixed vs 32-true, width 0.125, batch {fid['batch']}, "
                f"{fid['steps']} steps on the same fixed batches and initial weights "
                "(relative deviation |bf16 - fp32| / |fp32|):",
                "",
                "| loss | first step | median over steps | max over steps | max abs | "
                "max abs / mean abs fp32 loss |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for key, dev in fid["relative_deviation"].items():
                tail = (
                    f"{dev['max_abs']:.2e} | {dev['max_vs_mean']:.2e}"
                    if "max_abs" in dev
                    else "- | -"
                )
                lines.append(
                    f"| {key} | {dev['first_step']:.2e} | {dev['median']:.2e} | "
                    f"{dev['max']:.2e} | {tail} |"
                )
        targets = self.targets()
        if targets:
            lines += [
                "",
                "### Targets (from the speed issue)",
                "",
                "| target | measured | met |",
                "|---|---|---|",
            ]
            for target, measured, met in targets:
                flag = "n/a" if met is None else ("yes" if met else "**no**")
                lines.append(f"| {target} | {measured} | {flag} |")
        return "\n".join(lines) + "\n"


def write_markdown(path: Path, body: str) -> None:
    """Replace the marked block of ``path`` (append one, or create the file); other text stays."""
    block = f"{MARK_BEGIN}\n{body}{MARK_END}\n"
    if path.is_file():
        text = path.read_text()
        if MARK_BEGIN in text and MARK_END in text:
            head, rest = text.split(MARK_BEGIN, 1)
            tail = rest.split(MARK_END, 1)[1].lstrip("\n")
            path.write_text(head + block + tail)
        else:
            path.write_text(text.rstrip("\n") + "\n\n" + block)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Performance\n\n" + block)


def summarise_training(results: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """Merge the repetitions of one variant: median over all timed steps."""
    errors = [r for r in results if "error" in r]
    if errors:
        return {"error": errors[0]["error"]}
    steps = [t for r in results for t in r["step_s"]]
    median = statistics.median(steps)
    return {
        "step_s": steps,
        "warmup_s": [t for r in results for t in r["warmup_s"]],
        "median_step_s": median,
        "images_per_s": batch / median,
        "best_images_per_s": batch / min(steps),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
        "rss_before_mib": min(r["rss_before_mib"] for r in results),
        "cpu_share": min(r["cpu_share"] for r in results),
    }


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
    args.command = "python benchmarks/cpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
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
