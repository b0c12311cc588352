"""Faces in a table, the one grid builder: validation grids, reports, degrader views, samples.

Every cell is a face (3, h, w) in [-1, 1], all of one size; white gaps separate and frame
them, ``zoom`` repeats pixels (nearest, so the real pixels of small faces show) and ``labels``
name the columns above them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .imaging import to_uint8

GAP = 2
LABEL_HEIGHT = 12
WHITE = 1.0


def rows_of(tiles: torch.Tensor, per_row: int) -> torch.Tensor:
    """(N, 3, h, w) -> (rows, per_row, 3, h, w), the last row filled with white faces."""
    missing = -len(tiles) % per_row
    blank = torch.full((missing, *tiles.shape[1:]), WHITE, dtype=tiles.dtype)
    return torch.cat([tiles, blank.to(tiles.device)]).unflatten(0, (-1, per_row))


def face_table(
    cells: torch.Tensor, *, labels: Sequence[str] = (), zoom: int = 1, gap: int = GAP
) -> Image.Image:
    """(rows, columns, 3, h, w) in [-1, 1] -> one RGB image of the faces in that layout."""
    if cells.dim() != 5:
        raise ValueError(f"cells must be (rows, columns, 3, h, w), got {tuple(cells.shape)}")
    rows, columns, _, height, width = cells.shape
    pixels = to_uint8(cells).repeat(zoom, axis=2).repeat(zoom, axis=3)
    height, width = height * zoom, width * zoom
    top = LABEL_HEIGHT if labels else 0
    canvas = np.full(
        (top + gap + rows * (height + gap), gap + columns * (width + gap), 3), 255, np.uint8
    )
    for row in range(rows):
        for column in range(columns):
            y, x = top + gap + row * (height + gap), gap + column * (width + gap)
            canvas[y : y + height, x : x + width] = pixels[row, column]
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for column, name in enumerate(labels):
        draw.text((gap + column * (width + gap) + 1, 0), name[: width // 6], fill=(0, 0, 0))
    return image


def columns_grid(columns: Mapping[str, torch.Tensor], zoom: int = 1) -> Image.Image:
    """One row per face and one labelled column per batch (N, 3, h, w) of ``columns``;
    smaller faces are enlarged (nearest) to the largest column's size."""
    size = max(images.shape[-1] for images in columns.values())
    cells = [
        F.interpolate(images.detach().float().cpu(), size=size, mode="nearest")
        for images in columns.values()
    ]
    return face_table(torch.stack(cells, dim=1), labels=list(columns), zoom=zoom)
