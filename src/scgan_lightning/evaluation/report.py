"""One report, several restorers side by side with bicubic: the table a model card uses.

SCGAN's claim is about real low-resolution faces, which have no ground truth, so the report
scores three things: PSNR / SSIM where HR exists (LR made by each synthetic degradation);
on real LR faces, consistency with the input (and, given an HR reference set, sharpness and
realism in dlib's descriptor space, or FID / KID when an Inception is given); and a grid of
real faces to look at (LR pixels | bicubic | each model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..errors import UserError
from ..grids import columns_grid
from ..imaging import as_8bit
from ..inference.restorer import FaceRestorer
from ..metrics.realism import DescriptorRealism
from .benchmark import add_gap_closed, pairs_grid, score_pairs_dir
from .faces import face_files, load_faces
from .paired import BICUBIC, Restore, bicubic, make_pairs, score_paired
from .unpaired import features, fid_scores, real_lr_scores, sharpness_reference


def _common_geometry(restorers: Mapping[str, FaceRestorer]) -> tuple[int, int]:
    """(hr_size, scale) that every restorer shares."""
    if not restorers:
        raise UserError("models is empty (give models='{name: checkpoint, ...}')")
    shapes = {(r.hr_size, r.scale) for r in restorers.values()}
    if len(shapes) != 1:
        scales = sorted({scale for _, scale in shapes})
        raise UserError(f"the models have different scales ({scales})")
    return shapes.pop()


def build_report(
    restorers: Mapping[str, FaceRestorer],
    hr_dir: str | Path | None,
    lr_dir: str | Path | None,
    *,
    ref_hr_dir: str | Path | None = None,
    realism: DescriptorRealism | None = None,
    pairs_dir: str | Path | None = None,
    identity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    baselines: tuple[str, str] = ("naive", "oracle"),
    degradations: Sequence[str] = ("avgpool", "blur_noise_jpeg"),
    max_images: int | None = None,
    max_lr_images: int | None = None,
    grid_faces: int = 24,
    seed: int = 0,
    batch_size: int = 64,
    extractor: torch.nn.Module | None = None,
) -> tuple[dict[str, Any], dict[str, Image.Image]]:
    """Scores of every method (bicubic first) and the grids: of real faces (``real_lr``,
    with ``lr_dir``) and of a controlled set's held-out pairs (``pairs``, with ``pairs_dir``:
    scores on them, identity distance, the gap closed between the two ``baselines``).
    ``ref_hr_dir`` (default ``hr_dir``) is the HR set real LR outputs are compared with for
    sharpness and ``realism``; without either, real LR faces get the consistencies only."""
    if hr_dir is None and pairs_dir is None and lr_dir is None:
        raise UserError("give hr_dir, lr_dir (real LR faces) or pairs_dir (a controlled set)")
    hr_size, scale = _common_geometry(restorers)
    methods: dict[str, Restore] = {BICUBIC: bicubic(hr_size)}
    methods.update({name: r.restore_faces for name, r in restorers.items()})
    rows: dict[str, dict[str, float]] = {name: {} for name in methods}
    settings: dict[str, Any] = {"scale": scale, "hr_size": hr_size, "seed": seed}
    grids: dict[str, Image.Image] = {}
    if pairs_dir is not None:
        scores, pairs = score_pairs_dir(
            methods,
            pairs_dir,
            hr_size,
            scale,
            identity=identity,
            max_images=max_images,
            batch_size=batch_size,
        )
        for name, values in scores.items():
            rows[name].update(values)
        add_gap_closed(rows, *baselines)
        settings.update(pairs_dir=str(pairs_dir), pairs=len(pairs), baselines=list(baselines))
        grids["pairs"] = pairs_grid(methods, pairs, grid_faces)
    settings["degradations"] = list(degradations) if hr_dir is not None else []
    if hr_dir is not None:
        settings.update(hr_dir=str(hr_dir))
        hr_files = face_files(hr_dir, "hr_dir", max_images)
        settings["hr_images"] = len(hr_files)
        for kind in degradations:
            pairs = make_pairs(hr_files, hr_size, scale, kind, seed)
            scores = score_paired(methods, pairs, batch_size=batch_size)
            for name, values in scores.items():
                rows[name].update({f"{kind}/{key}": value for key, value in values.items()})
    if lr_dir is None:
        return {"settings": settings, "rows": rows}, grids
    lr_files = face_files(lr_dir, "lr_dir", max_lr_images)
    lr = load_faces(lr_files, hr_size // scale)
    settings.update(lr_dir=str(lr_dir), lr_images=len(lr_files))
    reference_dir = ref_hr_dir if ref_hr_dir is not None else hr_dir
    if reference_dir is None:
        if realism is not None or extractor is not None:
            raise UserError("realism and FID need an HR reference set: give ref_hr_dir")
        scores = real_lr_scores(methods, lr, None, scale, batch_size=batch_size)
    else:
        ref_files = face_files(reference_dir, "ref_hr_dir", max_images)
        hr = load_faces(ref_files, hr_size)
        reference = sharpness_reference(hr)
        descriptors = realism.features(hr.split(batch_size)) if realism is not None else None
        scores = real_lr_scores(methods, lr, reference, scale, realism, descriptors, batch_size)
        settings.update(
            ref_hr_dir=str(reference_dir),
            ref_hr_images=len(ref_files),
            sharpness_reference=reference,
        )
        if realism is not None:
            settings["realism_floor"] = _realism_floor(realism, descriptors)
    for name, values in scores.items():
        rows[name].update(values)
    if extractor is not None:
        device = next(iter(restorers.values())).device
        real = features(extractor, hr.split(batch_size), device)
        fid = fid_scores(
            methods, lr, real, extractor, batch_size=batch_size, device=device, seed=seed
        )
        for name, values in fid.items():
            rows[name].update(values)
    shown = lr[:grid_faces]
    outputs = {name: as_8bit(m(shown)) for name, m in methods.items()}
    grids["real_lr"] = columns_grid({"LR": shown, **outputs})
    return {"settings": settings, "rows": rows}, grids


def _realism_floor(realism: DescriptorRealism, descriptors: torch.Tensor) -> dict[str, float]:
    """The realism distances between the two halves of the HR reference set: what sampling
    alone gives at half its size (interleaved halves, so no order effect)."""
    floor = realism.distances(descriptors[0::2], descriptors[1::2])
    return {**floor, "images_per_half": len(descriptors) // 2}
