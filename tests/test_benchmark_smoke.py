"""``scripts/benchmark.py --smoke`` runs end to end and prints a table with ratios to a baseline.

Why only a smoke run: the real benchmark takes tens of minutes at width 1.0; CI checks that every
code path of it (subprocess variants, Trainer timing, predict, fidelity, markdown) still works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


def test_benchmark_smoke_prints_table_with_baseline_and_ratios(tmp_path: Path) -> None:
    markdown = tmp_path / "PERFORMANCE.md"
    markdown.write_text("# Performance\n\nhand-written intro\n")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--markdown", str(markdown)],
        capture_output=True,
        text=True,
        timeout=300,
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
