"""The benchmarks run end to end at smoke scale: ``benchmarks/cpu.py --smoke`` (tables with
ratios to a baseline), ``--choose-preset`` and ``benchmarks/gpu.py --smoke`` (on the CPU).

Why only a smoke run: the real benchmark takes tens of minutes at width 1.0; CI checks that every
code path of it (subprocess variants, Trainer timing, predict, fidelity, markdown) still works.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cpu.py"


@pytest.mark.slow
def test_benchmark_smoke_prints_table_with_baseline_and_ratios(tmp_path: Path) -> None:
    markdown = tmp_path / "PERFORMANCE.md"
    markdown.write_text("# Performance\n\nhand-written intro\n")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--markdown", str(markdown)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    baseline = [line for line in rows if line.startswith("| baseline |")]
    assert baseline, proc.stdout
    assert "| 1.00x |" in baseline[0]
    trained = [line for line in rows if re.match(r"\| (fp32|bf16)\w* \|", line)]
    assert trained and all(re.search(r"\| \d+\.\d\dx \|", line) for line in trained), proc.stdout
    assert "failed:" not in proc.stdout
    assert "| loop_fp32_b1 |" in proc.stdout and "| project_bf16 |" in proc.stdout
    text = markdown.read_text()
    assert text.startswith("# Performance\n\nhand-written intro\n")
    assert "<!-- benchmark:begin -->" in text and "| baseline |" in text


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT.parent / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_choose_preset_times_the_three_cpu_presets_and_prints_the_fastest_overrides():
    proc = _run_script(
        "cpu.py", "--choose-preset", "--width", "0.0625", "--batch", "2", "--steps", "1"
    )
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    # rows[0] is the header; the |---| separator does not start with "| "
    assert {r.split(" | ")[0][2:] for r in rows[1:]} == {"fp32", "fp32_cl_fused", "bf16_cl_fused"}
    assert "| 1.00x |" in next(r for r in rows if r.startswith("| fp32 |"))
    match = re.search(
        r"fastest here: (\w+)\n.*trainer\.precision=(\S+) model\.channels_last=", proc.stdout
    )
    assert match, proc.stdout


@pytest.mark.slow
def test_gpu_benchmark_smoke_writes_each_result_as_it_comes(tmp_path: Path):
    _run_script("gpu.py", "--smoke", "--out", str(tmp_path))
    lines = (tmp_path / "gpu_benchmark.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    assert "environment" in json.loads(lines[0])
    assert [r["path"] for r in rows] == ["eager", "fast"]
    assert all(r["images_per_s"] > 0 and r["timed_steps"] == 1 for r in rows)
    assert "| 0.0625 | 2 | fast |" in (tmp_path / "gpu_benchmark.md").read_text()
