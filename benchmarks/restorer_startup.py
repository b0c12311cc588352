#!/usr/bin/env python
"""How long ``FaceRestorer.from_checkpoint(None)`` takes to be ready, in a fresh process with
an empty cache, and how long it then takes to restore a list of numpy faces.

Why a fresh process with empty HOME and XDG cache folders: that is a first-time user's state,
with nothing timed or cached before. Each repetition is its own interpreter; the import of the
package (torch included) is timed apart from the construction, the first restore apart from a
second one (the first builds the kernels). The machine's load is printed with the figures.

Usage:  python benchmarks/restorer_startup.py --repeats 3 --faces 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

CHILD = """
import json, sys, time
start = time.perf_counter()
import numpy as np
from scgan_lightning import FaceRestorer
imported = time.perf_counter()
restorer = FaceRestorer.from_checkpoint(None)
built = time.perf_counter()
rng = np.random.default_rng(0)
faces = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(int(sys.argv[1]))]
restorer.restore_faces(faces)
first = time.perf_counter()
restorer.restore_faces(faces)
second = time.perf_counter()
print(json.dumps({
    "import_s": imported - start,
    "build_s": built - imported,
    "first_restore_s": first - built,
    "second_restore_s": second - first,
    "last_batch_settings": restorer.engine.settings.label(),  # a candidate while timing
}))
"""


def one_run(faces: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home, xdg = Path(tmp) / "home", Path(tmp) / "xdg"
        home.mkdir()
        xdg.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "SCGAN_CACHE_DIR"}
        env.update(HOME=str(home), XDG_CACHE_HOME=str(xdg), PYTHONWARNINGS="ignore")
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(faces)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["files_written"] = sum(1 for p in Path(tmp).rglob("*") if p.is_file())
        return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--faces", type=int, default=64)
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    runs = [one_run(args.faces) for _ in range(args.repeats)]
    print(json.dumps(runs, indent=1), file=sys.stderr)
    keys = ("import_s", "build_s", "first_restore_s", "second_restore_s")
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(
        f"{args.repeats} fresh processes, empty cache, {args.faces} numpy faces, load "
        f"{load:.2f} at start, {os.getloadavg()[0]:.2f} at end (medians):\n"
        f"| import | from_checkpoint(None) | first restore | second restore | files written |\n"
        f"|---:|---:|---:|---:|---:|\n"
        f"| {median['import_s']:.2f} s | {median['build_s']:.2f} s | "
        f"{median['first_restore_s']:.2f} s | {median['second_restore_s']:.2f} s | "
        f"{max(r['files_written'] for r in runs)} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
