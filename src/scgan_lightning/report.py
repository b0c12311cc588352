"""One report, several restorers side by side with bicubic: the table a model card uses.

SCGAN's claim is about real low-resolution faces, which have no ground truth, so the report
scores three things: PSNR / SSIM where HR exists (LR made by each synthetic degradation);
on real LR faces, consistency (4x average pooling of the output against the input) and
sharpness (edge energy of the output relative to real HR faces), plus FID / KID when Inception
weights are given; and a grid of real faces to look at (LR pixels | bicubic | each model).

``python -m scgan_lightning.report models='{gan: a.pt, l1: b.pt}' hr_dir=... lr_dir=...``
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image, ImageDraw
from rich.console import Console

from . import metrics
from .checkpoints import load_restorer
from .config_utils import cli, exit_on_user_error
from .data.image_io import to_uint8
from .errors import UserError
from .evaluate import (
    BICUBIC,
    as_8bit,
    bicubic_upsample,
    evaluate_paired,
    image_files,
    load_faces,
)

Restore = Callable[[torch.Tensor], torch.Tensor]

# Column order and labels of the Markdown table.
COLUMNS = {
    "consistency": "real LR: consistency (dB)",
    "sharpness": "real LR: sharpness",
    "fid": "real LR: FID",
    "kid_mean": "real LR: KID",
}


def network_restore(model: torch.nn.Module, device: torch.device, batch_size: int) -> Restore:
    """LR batch -> 8-bit-exact SR batch on the CPU, in chunks of ``batch_size``."""

    @torch.inference_mode()
    def restore(lr: torch.Tensor) -> torch.Tensor:
        parts = [model(chunk.to(device)).float().cpu() for chunk in lr.split(batch_size)]
        return as_8bit(torch.cat(parts))

    return restore


def real_lr_scores(
    restore: Restore, lr: torch.Tensor, reference_energy: float, scale: int
) -> dict[str, float]:
    """Consistency and sharpness of one method's outputs for real LR faces."""
    sr = restore(lr)
    return {
        "consistency": float(metrics.consistency_psnr(sr, lr, scale).mean()),
        "sharpness": float(metrics.gradient_energy(sr).mean()) / reference_energy,
    }


def face_grid(lr: torch.Tensor, outputs: Mapping[str, torch.Tensor], hr_size: int) -> Image.Image:
    """Rows of faces under a header: LR pixels (nearest) | each method's output."""
    columns = {"LR": torch.nn.functional.interpolate(lr, size=hr_size, mode="nearest")}
    columns.update(outputs)
    gutter, header = 2, 12
    cell = hr_size + gutter
    canvas = np.full((header + len(lr) * cell, len(columns) * cell, 3), 255, dtype=np.uint8)
    for col, images in enumerate(columns.values()):
        for row, image in enumerate(images):
            y, x = header + row * cell, col * cell
            canvas[y : y + hr_size, x : x + hr_size] = to_uint8(image)
    grid = Image.fromarray(canvas)
    draw = ImageDraw.Draw(grid)
    for col, name in enumerate(columns):
        draw.text((col * cell + 1, 0), name[: hr_size // 6], fill=(0, 0, 0))
    return grid


def build_report(
    restores: Mapping[str, Restore],
    hr_dir: str | Path,
    lr_dir: str | Path,
    *,
    scale: int = 4,
    hr_size: int = 64,
    degradations: Sequence[str] = ("avgpool", "blur_noise_jpeg"),
    max_images: int | None = None,
    max_lr_images: int | None = None,
    grid_faces: int = 24,
    seed: int = 0,
    extractor: torch.nn.Module | None = None,
) -> tuple[dict[str, Any], Image.Image]:
    """Scores of every method (bicubic first) and the grid of real faces."""
    methods: dict[str, Restore] = {BICUBIC: lambda lr: bicubic_upsample(lr, hr_size)}
    methods.update(restores)
    rows: dict[str, dict[str, float]] = {name: {} for name in methods}
    for kind in degradations:
        for name, restore in methods.items():
            if name == BICUBIC:
                continue
            result = evaluate_paired(
                _Wrapped(restore),
                hr_dir,
                scale=scale,
                hr_size=hr_size,
                degradation=kind,
                seed=seed,
                max_images=max_images,
            )
            for method, key in ((name, "SR"), (BICUBIC, BICUBIC)):
                rows[method][f"{kind}/psnr"] = result["rows"][key]["psnr"]
                rows[method][f"{kind}/ssim"] = result["rows"][key]["ssim"]

    hr_files = image_files(hr_dir, "hr_dir", max_images)
    lr_files = image_files(lr_dir, "lr_dir", max_lr_images)
    hr = load_faces(hr_files, hr_size)
    lr = load_faces(lr_files, hr_size // scale)
    reference_energy = float(metrics.gradient_energy(hr).mean())
    real_features = None if extractor is None else metrics.extract_features(extractor, hr)
    grid_outputs = {}
    for name, restore in methods.items():
        rows[name].update(real_lr_scores(restore, lr, reference_energy, scale))
        if real_features is not None:
            fake = metrics.extract_features(extractor, restore(lr))
            rows[name].update(metrics.fid_kid(real_features, fake, seed=seed))
        grid_outputs[name] = restore(lr[:grid_faces])
    settings = {
        "hr_dir": str(hr_dir),
        "lr_dir": str(lr_dir),
        "hr_images": len(hr_files),
        "lr_images": len(lr_files),
        "degradations": list(degradations),
        "scale": scale,
        "hr_size": hr_size,
        "seed": seed,
        "sharpness_reference": reference_energy,
    }
    return {"settings": settings, "rows": rows}, face_grid(lr[:grid_faces], grid_outputs, hr_size)


class _Wrapped(torch.nn.Module):
    """Lets a ``Restore`` function stand where evaluate_paired expects a network."""

    def __init__(self, restore: Restore) -> None:
        super().__init__()
        self.restore = restore

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.restore(lr)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as one Markdown table (PSNR / SSIM per degradation, real-LR columns)."""
    settings = report["settings"]
    keys = []
    labels = []
    for kind in settings["degradations"]:
        keys += [f"{kind}/psnr", f"{kind}/ssim"]
        labels += [f"{kind}: PSNR (dB)", f"{kind}: SSIM"]
    present = {key for row in report["rows"].values() for key in row}
    for key, label in COLUMNS.items():
        if key in present:
            keys.append(key)
            labels.append(label)
    lines = [
        f"HR: {settings['hr_images']} faces of `{settings['hr_dir']}`; real LR: "
        f"{settings['lr_images']} faces of `{settings['lr_dir']}`",
        "",
        "| method | " + " | ".join(labels) + " |",
        "|:---|" + "---:|" * len(labels),
    ]
    for name, row in report["rows"].items():
        cells = [f"{row[key]:.{4 if 'ssim' in key or 'kid' in key else 2}f}" for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _models(cfg: DictConfig) -> dict[str, str]:
    models = OmegaConf.to_container(cfg.models, resolve=True) if cfg.models else {}
    if not isinstance(models, dict) or not models:
        raise UserError("models is empty (give models='{name: checkpoint, ...}')")
    return {str(name): str(path) for name, path in models.items()}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Load every model, score them with bicubic, write report.json, report.md and the grid."""
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if cfg.device == "auto" else cfg.device)
    restores = {}
    scales = set()
    models = _models(cfg)
    for name, path in models.items():
        loaded = load_restorer(path)
        scales.add(loaded.scale)
        restores[name] = network_restore(loaded.model.to(device), device, cfg.batch_size)
    if len(scales) != 1:
        raise UserError(f"the models have different scales ({sorted(scales)})")
    extractor = None
    if cfg.fid.weights_path:
        extractor = metrics.build_inception(cfg.fid.weights_path).to(device).eval()
    report, grid = build_report(
        restores,
        cfg.hr_dir,
        cfg.lr_dir,
        scale=scales.pop(),
        hr_size=cfg.hr_size,
        degradations=list(cfg.degradations),
        max_images=cfg.max_images,
        max_lr_images=cfg.max_lr_images,
        grid_faces=cfg.grid_faces,
        seed=cfg.seed,
        extractor=extractor,
    )
    report["models"] = models
    folder = Path(cfg.output_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (folder / "report.md").write_text(render_markdown(report))
    grid.save(folder / "grid_real_lr.png")
    Console().print(render_markdown(report))
    print(f"wrote {folder / 'report.md'}, report.json and grid_real_lr.png")
    return report


@hydra.main(version_base="1.3", config_path="conf", config_name="report")
@exit_on_user_error
def _main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run(cfg)


main = cli("report", _main)  # console script scgan-report; unknown keys get the closest one


if __name__ == "__main__":
    main()
