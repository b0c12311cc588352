"""The blind comparison sheet: shuffled, unlabelled, self-contained, and its tally."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.blind_sheet import build_sheet, tally
from scgan_lightning.evaluation.faces import face_files, load_faces
from scgan_lightning.evaluation.paired import bicubic
from scgan_lightning.filters import gaussian_lowpass

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


def _methods():
    def soft(lr):
        return gaussian_lowpass(bicubic(64)(lr), 2.0)

    return {"bicubic": bicubic(64), "soft": soft, "softer": lambda lr: soft(soft(lr))}


def test_the_sheet_hides_the_methods_and_shuffles_each_row():
    files = face_files(DEMO / "lr_test", "faces", 12)
    page, key = build_sheet(_methods(), load_faces(files, 16), [f.name for f in files], seed=1)
    for name in _methods():
        assert f">{name}<" not in page and f'alt="{name}"' not in page
    assert not re.search(r"(src|href)=\"https?:", page)  # nothing fetched: inline images only
    assert page.count("data:image/png;base64,") == 12 * 4  # input + three outputs a row
    orders = [tuple(row.values()) for row in key["rows"].values()]
    assert all(sorted(order) == sorted(_methods()) for order in orders)
    assert len(set(orders)) > 1  # the columns move from row to row
    again, same_key = build_sheet(_methods(), load_faces(files, 16), [f.name for f in files], 1)
    assert same_key == key and again == page


def test_tally_counts_votes_per_method_from_picks_and_key():
    key = {"methods": ["a", "b"], "rows": {"x": {"A": "b", "B": "a"}, "y": {"A": "a", "B": "b"}}}
    assert tally({"x": "A", "y": "B"}, key) == {"a": 0, "b": 2}
    with pytest.raises(UserError, match="picks name faces the key does not have: z"):
        tally({"z": "A"}, key)


def test_the_tool_writes_sheet_and_key_then_tallies(tmp_path):
    tool = [sys.executable, str(ROOT / "tools" / "blind_sheet.py")]
    model = ROOT / "src" / "scgan_lightning" / "assets" / "scgan_faces_small.pt"
    options = ["--faces", str(DEMO / "lr_test"), "--count", "4", "--models", f"l1={model}"]
    made = subprocess.run(
        [*tool, *options, "--output", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    key = json.loads((tmp_path / "key.json").read_text())
    first = next(iter(key["rows"]))
    l1_letter = next(letter for letter, name in key["rows"][first].items() if name == "l1")
    (tmp_path / "picks.json").write_text(json.dumps({first: l1_letter}))
    counted = subprocess.run(
        [*tool, "--tally", str(tmp_path / "picks.json"), "--key", str(tmp_path / "key.json")],
        capture_output=True,
        text=True,
    )
    assert counted.stdout.splitlines() == ["l1: 1", "bicubic: 0"]
    broken = subprocess.run(
        [*tool, "--tally", str(tmp_path / "key.json")], capture_output=True, text=True
    )
    assert broken.returncode == 2 and broken.stderr.startswith("error: --tally needs --key")
