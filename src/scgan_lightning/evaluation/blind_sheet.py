"""A blind comparison sheet: the paper's user study, at home.

One self-contained HTML page shows N real LR faces, each with every method's output in a
shuffled order under neutral letters; the key (which letter is which method, row by row) goes
to a separate JSON file, so a judge sees no names. The page lets the judge pick the best output
of each row and download the picks; :func:`tally` turns picks and key into votes per method.
Nothing on the page is fetched: images are inline PNGs and the script is inline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import random
import string
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from ..atomic import write_text
from ..errors import UserError
from ..imaging import as_8bit, to_uint8
from .paired import Restore

DISPLAY = 128  # pixels on the page per face (nearest-neighbour zoom keeps the pixels honest)


def _png_data(image: torch.Tensor, size: int) -> str:
    zoomed = F.interpolate(image[None], size=size, mode="nearest")[0]
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(zoomed)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def build_sheet(
    methods: Mapping[str, Restore], lr: torch.Tensor, names: list[str], seed: int = 0
) -> tuple[str, dict[str, Any]]:
    """The page and its key for the faces ``lr`` (N,3,h,w) named ``names``; every row's
    columns shuffled with ``seed``."""
    if len(methods) > len(string.ascii_uppercase):
        raise UserError(f"{len(methods)} methods: a sheet shows at most 26")
    outputs = {name: as_8bit(restore(lr)) for name, restore in methods.items()}
    letters = string.ascii_uppercase[: len(methods)]
    shuffle = random.Random(seed)
    rows, key = [], {}
    for index, face in enumerate(names):
        order = list(methods)
        shuffle.shuffle(order)
        key[face] = dict(zip(letters, order, strict=True))
        cells = [_cell("input", _png_data(lr[index], DISPLAY), None)]
        cells += [
            _cell(letter, _png_data(outputs[method][index], DISPLAY), face)
            for letter, method in zip(letters, order, strict=True)
        ]
        rows.append(f"<tr><th>{html.escape(face)}</th>{''.join(cells)}</tr>")
    page = _PAGE.format(
        count=len(names), methods=len(methods), rows="\n".join(rows), letters=letters
    )
    return page, {"seed": seed, "methods": sorted(methods), "rows": key}


def _cell(label: str, data: str, face: str | None) -> str:
    pick = ""
    if face is not None:
        attrs = f'type="radio" name="{html.escape(face)}" value="{label}"'
        pick = f"<label><input {attrs}> {label}</label>"
    return f'<td><img src="{data}" alt="{label}"><br>{pick or label}</td>'


def write_sheet(page: str, key: Mapping[str, Any], folder: str | Path) -> tuple[Path, Path]:
    """``sheet.html`` and ``key.json`` in ``folder`` (written atomically)."""
    folder = Path(folder)
    paths = folder / "sheet.html", folder / "key.json"
    write_text(paths[0], page)
    write_text(paths[1], json.dumps(key, indent=2) + "\n")
    return paths


def tally(picks: Mapping[str, str], key: Mapping[str, Any]) -> dict[str, int]:
    """Votes per method from a judge's picks (``{face: letter}``, as the page downloads
    them) and the sheet's key; every method is listed, with 0 when never picked."""
    rows = key["rows"]
    unknown = sorted(set(picks) - set(rows))
    if unknown:
        raise UserError(f"picks name faces the key does not have: {', '.join(unknown[:3])}")
    votes = Counter(rows[face][letter] for face, letter in picks.items())
    return {method: votes.get(method, 0) for method in key["methods"]}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blind comparison</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
td, th {{ text-align: center; padding: 4px; font-size: 13px; }}
img {{ image-rendering: pixelated; width: {size}px; height: {size}px; }}
</style></head><body>
<h1>Blind comparison: {count} faces, {methods} outputs each</h1>
<p>Each row: the low-resolution input, then the outputs {letters} in a different random order
per row. Pick the output that looks most like a real, faithful face; then download your picks
and send them with the key file to whoever made the sheet.</p>
<table>
{rows}
</table>
<p><button id="save">Download my picks</button></p>
<script>
document.getElementById("save").onclick = function () {{
  const picks = {{}};
  document.querySelectorAll("input[type=radio]:checked").forEach(function (box) {{
    picks[box.name] = box.value;
  }});
  const blob = new Blob([JSON.stringify(picks, null, 2)], {{type: "application/json"}});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "picks.json";
  link.click();
}};
</script>
</body></html>
""".replace("{size}", str(DISPLAY))
