"""Evaluation results as tables: the terminal, Markdown, and the JSON beside them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from ..atomic import write_text
from ..errors import UserError

# Column label and number format of each evaluate metric (arrows: which direction is better).
METRIC_FORMATS = {
    "psnr": ("PSNR (dB) ↑", "{:.4f}"),
    "ssim": ("SSIM ↑", "{:.4f}"),
    "lpips": ("LPIPS ↓", "{:.4f}"),
    "fid": ("FID ↓", "{:.3f}"),
    "kid_mean": ("KID ↓", "{:.5f}"),
    "kid_std": ("KID std", "{:.5f}"),
}
# The report's real-LR columns, in order.
PAIRS_COLUMNS = {
    "pairs/psnr": "pairs: PSNR (dB)",
    "pairs/ssim": "pairs: SSIM",
    "pairs/identity": "pairs: identity distance",
    "pairs/gap_closed": "gap closed",
}
REAL_LR_COLUMNS = {
    "consistency": "real LR: consistency (dB)",
    "lowfreq_consistency": "real LR: low-band consistency (dB)",
    "sharpness": "real LR: sharpness",
    "realism_fd": "real LR: descriptor FD",
    "realism_kid": "real LR: descriptor KID (x1e3)",
    "fid": "real LR: FID",
    "kid_mean": "real LR: KID",
}


def _cells(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    present = {key for row in result["rows"].values() for key in row}
    keys = [key for key in METRIC_FORMATS if key in present]
    header = ["method", *(METRIC_FORMATS[key][0] for key in keys)]
    body = [
        [name, *(METRIC_FORMATS[key][1].format(row[key]) for key in keys)]
        for name, row in result["rows"].items()
    ]
    return header, body


def _title(result: Mapping[str, Any]) -> str:
    if result["mode"] == "paired":
        return f"Paired evaluation, {result['images']} images"
    return f"Unpaired evaluation, {result['images']} real LR images"


def _caption(result: Mapping[str, Any]) -> str:
    settings = result["settings"]
    if result["mode"] == "paired":
        channel = "Y channel" if settings["test_y_channel"] else "RGB"
        return (
            f"LR by {settings['degradation']} x{settings['scale']}, "
            f"crop_border {settings['crop_border']}, {channel}"
        )
    return f"against {settings['reference_images']} reference HR images"


def render_table(result: Mapping[str, Any]) -> Table:
    """An evaluate result as a rich table for the terminal."""
    header, body = _cells(result)
    table = Table(title=_title(result), caption=_caption(result))
    for index, label in enumerate(header):
        table.add_column(label, justify="left" if index == 0 else "right")
    for cells in body:
        table.add_row(*cells)
    return table


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|",
        *("| " + " | ".join(cells) + " |" for cells in body),
    ]


def render_markdown(result: Mapping[str, Any]) -> str:
    """An evaluate result as a Markdown table with a one-line caption."""
    header, body = _cells(result)
    lines = [f"**{_title(result)}** ({_caption(result)})", "", *_markdown_table(header, body)]
    return "\n".join(lines) + "\n"


def _report_cell(key: str, value: float) -> str:
    if key.endswith("gap_closed"):
        return "n/a" if value != value else f"{100 * value:.0f}%"
    if key.endswith("identity") or key.startswith("realism"):
        return f"{value:.3f}"
    return f"{value:.{4 if 'ssim' in key or 'kid' in key else 2}f}"


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as one Markdown table: held-out pairs of a controlled set (PSNR, SSIM,
    identity, gap closed), PSNR / SSIM per degradation, then real-LR columns."""
    settings = report["settings"]
    present = {key for row in report["rows"].values() for key in row}
    keys = [key for key in PAIRS_COLUMNS if key in present]
    labels = [PAIRS_COLUMNS[key] for key in keys]
    for kind in settings["degradations"]:
        keys += [f"{kind}/psnr", f"{kind}/ssim"]
        labels += [f"{kind}: PSNR (dB)", f"{kind}: SSIM"]
    for key, label in REAL_LR_COLUMNS.items():
        if key in present:
            keys.append(key)
            labels.append(label)
    body = [
        [name, *(_report_cell(key, row[key]) for key in keys)]
        for name, row in report["rows"].items()
    ]
    captions = []
    if "pairs_dir" in settings:
        captions.append(f"pairs: {settings['pairs']} held-out faces of `{settings['pairs_dir']}`")
    if "hr_dir" in settings:
        captions.append(f"HR: {settings['hr_images']} faces of `{settings['hr_dir']}`")
    if "lr_dir" in settings:
        captions.append(f"real LR: {settings['lr_images']} faces of `{settings['lr_dir']}`")
    if "ref_hr_dir" in settings:
        captions.append(
            f"HR reference: {settings['ref_hr_images']} faces of `{settings['ref_hr_dir']}`"
        )
    if "realism_floor" in settings:
        floor = settings["realism_floor"]
        captions.append(
            f"descriptor FD / KID floor (HR vs HR, {floor['images_per_half']} a side): "
            f"{floor['fd']:.3f} / {floor['kid']:.3f}"
        )
    caption = "; ".join(captions)
    return "\n".join([caption, "", *_markdown_table(["method", *labels], body)]) + "\n"


def write_tables(
    result: Mapping[str, Any], folder: str | Path, name: str, markdown: str
) -> tuple[Path, Path]:
    """``<name>.json`` (the result) and ``<name>.md`` in ``folder``; returns both paths."""
    folder = Path(folder).expanduser()
    paths = folder / f"{name}.json", folder / f"{name}.md"
    try:
        write_text(paths[0], json.dumps(result, indent=2) + "\n")
        write_text(paths[1], markdown)
    except OSError as err:
        raise UserError(f"{folder}: cannot write the reports ({err.strerror})") from None
    return paths
