"""The benchmarks run end to end at smoke scale: ``benchmarks/cpu.py --smoke`` (tables with
ratios to a baseline), ``benchmarks/gpu.py --smoke`` (on the CPU), ``auto_speed.py --quick``
and ``restorer_startup.py``.

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
def test_auto_speed_quick_reports_both_phases_and_prediction(tmp_path: Path):
    proc = _run_script("auto_speed.py", "--quick", "--json", str(tmp_path / "auto.json"))
    report = json.loads((tmp_path / "auto.json").read_text())
    assert [r["phase"] for r in report["training"]] == ["degrader-only", "semi-cycled"]
    assert all(r["tuning_steps"] >= 3 and r["plain_step_s"] > 0 for r in report["training"])
    assert "| semi-cycled |" in proc.stdout and "Prediction, 40 faces" in proc.stdout


@pytest.mark.slow
def test_restorer_startup_times_a_fresh_process():
    proc = _run_script("restorer_startup.py", "--repeats", "1", "--faces", "4")
    assert "| import | from_checkpoint(None) |" in proc.stdout
    row = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"(\| [\d.]+ s ){4}\| \d+ \|", row), proc.stdout


@pytest.mark.slow
def test_gpu_benchmark_smoke_writes_each_result_as_it_comes(tmp_path: Path):
    _run_script("gpu.py", "--smoke", "--out", str(tmp_path))
    lines = (tmp_path / "gpu_benchmark.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    assert "environment" in json.loads(lines[0])
    assert [r["path"] for r in rows] == ["eager", "fast"]
    assert all(r["images_per_s"] > 0 and r["timed_steps"] == 1 for r in rows)
    assert "| 0.0625 | 2 | fast |" in (tmp_path / "gpu_benchmark.md").read_text()
