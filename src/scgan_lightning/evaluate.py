"""Evaluate a restorer: PSNR / SSIM / LPIPS on synthetic pairs, FID / KID on real LR faces.

Every table also scores plain bicubic upsampling of the same LR images, the baseline a paper's
claim has to beat. ``python -m scgan_lightning.evaluate ckpt_path=... hr_dir=...`` (paired) or
``mode=unpaired lr_dir=... ref_hr_dir=... fid.weights_path=...``; the logic lives in
``evaluate_paired`` / ``evaluate_unpaired`` so tests and notebooks call it without Hydra.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from PIL import Image
from rich.console import Console
from rich.table import Table
from torch import nn

from . import metrics
from .config_utils import check_scale, cli, exit_on_user_error, resolve_device
from .data.image_io import center_square, list_images, read_rgb, resize, to_tensor, to_uint8
from .errors import UserError
from .inference.engine import RestoreEngine
from .inference.models import load_model, model_label

# Row names of the tables: the restorer's output and the bicubic baseline.
SR, BICUBIC = "SR", "bicubic"
# Column label and number format of each metric (arrows: which direction is better).
METRIC_FORMATS = {
    "psnr": ("PSNR (dB) ↑", "{:.4f}"),
    "ssim": ("SSIM ↑", "{:.4f}"),
    "lpips": ("LPIPS ↓", "{:.4f}"),
    "fid": ("FID ↓", "{:.3f}"),
    "kid_mean": ("KID ↓", "{:.5f}"),
    "kid_std": ("KID std", "{:.5f}"),
}


# ----------------------------------------------------------------------------- images


def image_files(folder: str | Path | None, key: str, max_images: int | None) -> list[Path]:
    if not folder:
        raise UserError(f"{key} is not set (give {key}=<folder of images>)")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UserError(f"{path}: no such folder ({key})")
    files = list_images(path)
    if not files:
        raise UserError(f"{path}: no images (.png, .jpg, .jpeg, .bmp, .webp) found ({key})")
    return files[:max_images] if max_images else files


def _chunks(files: Sequence[Path], size: int) -> Iterator[tuple[int, Sequence[Path]]]:
    """(index of the first file, files) per batch."""
    for start in range(0, len(files), size):
        yield start, files[start : start + size]


def load_faces(files: Sequence[Path], size: int) -> torch.Tensor:
    """(N, 3, size, size) in [-1, 1]; other sizes are centre-cropped square and resized."""
    images = []
    for file in files:
        image = read_rgb(file)
        if image.size != (size, size):
            image = resize(center_square(image), size)
        images.append(to_tensor(image))
    return torch.stack(images)


def as_8bit(images: torch.Tensor) -> torch.Tensor:
    """What saving and re-reading 8-bit images gives: metrics score what a user would save."""
    return metrics.quantize(images).float().div_(127.5).sub_(1.0)


def bicubic_upsample(lr: torch.Tensor, size: int) -> torch.Tensor:
    """8-bit bicubic upsampling (PIL, a=-0.5 like MATLAB's imresize) of a [-1, 1] batch."""
    return torch.stack([to_tensor(resize(Image.fromarray(to_uint8(x)), size)) for x in lr])


def _engine(model: nn.Module, device: str | torch.device, batch_size: int, scale: int):
    """Float32, NCHW: scores must not depend on the machine's fastest settings."""
    return RestoreEngine(model, device, batch_size=batch_size, scale=scale)


def _check_settings(hr_size: int, scale: int, batch_size: int, max_images: int | None) -> None:
    check_scale(hr_size, scale)
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size} must be at least 1")
    if max_images is not None and max_images < 1:
        raise UserError(f"max_images={max_images} must be at least 1 (or null for all)")


# ----------------------------------------------------------------------------- evaluation


def evaluate_paired(
    model: nn.Module,
    hr_dir: str | Path,
    *,
    scale: int = 4,
    hr_size: int = 64,
    degradation: str = "avgpool",
    seed: int = 0,
    crop_border: int = 0,
    test_y_channel: bool = False,
    max_images: int | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    lpips_model: nn.Module | None = None,
) -> dict[str, Any]:
    """Mean PSNR / SSIM (/ LPIPS) of SR and bicubic against HR, LR made by ``degradation``.

    Image ``i`` is degraded with seed ``seed + i``, so scores do not depend on the batch size.
    """
    from .data.degradations import DEGRADATIONS, degrade

    if degradation not in DEGRADATIONS:
        raise UserError(f"degradation={degradation!r} unknown; choose one of {DEGRADATIONS}")
    _check_settings(hr_size, scale, batch_size, max_images)
    if crop_border < 0 or hr_size - 2 * crop_border < metrics.SSIM_WINDOW:
        raise UserError(
            f"crop_border={crop_border} must be >= 0 and leave {metrics.SSIM_WINDOW} pixels "
            f"of the {hr_size}-pixel images for SSIM"
        )
    device = torch.device(device)
    engine = _engine(model, device, batch_size, scale)
    files = image_files(hr_dir, "hr_dir", max_images)
    scores: dict[str, dict[str, list[torch.Tensor]]] = {
        SR: defaultdict(list),
        BICUBIC: defaultdict(list),
    }
    for start, chunk in _chunks(files, batch_size):
        hr = load_faces(chunk, hr_size)
        lr = as_8bit(
            torch.stack(
                [degrade(x, degradation, scale, seed + start + i) for i, x in enumerate(hr)]
            )
        )
        outputs = {SR: as_8bit(engine.restore(lr)), BICUBIC: bicubic_upsample(lr, hr_size)}
        for name, sr in outputs.items():
            scores[name]["psnr"].append(metrics.psnr_tensor(sr, hr, crop_border, test_y_channel))
            scores[name]["ssim"].append(metrics.ssim_tensor(sr, hr, crop_border, test_y_channel))
            if lpips_model is not None:
                with torch.inference_mode():
                    distance = lpips_model(sr.to(device), hr.to(device))
                scores[name]["lpips"].append(distance.flatten().double().cpu())
    rows = {
        name: {key: float(torch.cat(values).mean()) for key, values in columns.items()}
        for name, columns in scores.items()
    }
    settings = {
        "hr_dir": str(hr_dir),
        "degradation": degradation,
        "seed": seed,
        "scale": scale,
        "hr_size": hr_size,
        "crop_border": crop_border,
        "test_y_channel": test_y_channel,
    }
    return {"mode": "paired", "images": len(files), "settings": settings, "rows": rows}


def evaluate_unpaired(
    model: nn.Module,
    lr_dir: str | Path,
    ref_hr_dir: str | Path,
    extractor: nn.Module,
    *,
    scale: int = 4,
    hr_size: int = 64,
    max_images: int | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """FID / KID of SR and bicubic outputs of real LR faces against a reference HR set.

    ``extractor`` maps uint8 NCHW images to features (the FID Inception, or a stand-in);
    ``max_images`` caps each folder.
    """
    _check_settings(hr_size, scale, batch_size, max_images)
    device = torch.device(device)
    engine = _engine(model, device, batch_size, scale)
    extractor = extractor.to(device).eval()
    lr_files = image_files(lr_dir, "lr_dir", max_images)
    hr_files = image_files(ref_hr_dir, "ref_hr_dir", max_images)

    def features(images: torch.Tensor) -> torch.Tensor:
        return metrics.extract_features(extractor, images.to(device)).cpu()

    fake: dict[str, list[torch.Tensor]] = {SR: [], BICUBIC: []}
    for _, chunk in _chunks(lr_files, batch_size):
        lr = load_faces(chunk, hr_size // scale)
        fake[SR].append(features(as_8bit(engine.restore(lr))))
        fake[BICUBIC].append(features(bicubic_upsample(lr, hr_size)))
    real = torch.cat(
        [features(load_faces(chunk, hr_size)) for _, chunk in _chunks(hr_files, batch_size)]
    )
    rows = {
        name: metrics.fid_kid(real, torch.cat(parts), kid_subsets, kid_subset_size, seed)
        for name, parts in fake.items()
    }
    settings = {
        "lr_dir": str(lr_dir),
        "ref_hr_dir": str(ref_hr_dir),
        "reference_images": len(hr_files),
        "scale": scale,
        "hr_size": hr_size,
        "kid_subset_size": min(kid_subset_size, len(lr_files), len(hr_files)),
    }
    return {"mode": "unpaired", "images": len(lr_files), "settings": settings, "rows": rows}


# ----------------------------------------------------------------------------- reports


def _columns(result: dict[str, Any]) -> list[str]:
    present = {key for row in result["rows"].values() for key in row}
    return [key for key in METRIC_FORMATS if key in present]


def _cells(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    keys = _columns(result)
    header = ["method", *(METRIC_FORMATS[key][0] for key in keys)]
    body = [
        [name, *(METRIC_FORMATS[key][1].format(row[key]) for key in keys)]
        for name, row in result["rows"].items()
    ]
    return header, body


def _title(result: dict[str, Any]) -> str:
    if result["mode"] == "paired":
        return f"Paired evaluation, {result['images']} images"
    return f"Unpaired evaluation, {result['images']} real LR images"


def _caption(result: dict[str, Any]) -> str:
    settings = result["settings"]
    if result["mode"] == "paired":
        channel = "Y channel" if settings["test_y_channel"] else "RGB"
        return (
            f"LR by {settings['degradation']} x{settings['scale']}, "
            f"crop_border {settings['crop_border']}, {channel}"
        )
    return f"against {settings['reference_images']} reference HR images"


def render_table(result: dict[str, Any]) -> Table:
    """The result as a rich table for the terminal."""
    header, body = _cells(result)
    table = Table(title=_title(result), caption=_caption(result))
    for index, label in enumerate(header):
        table.add_column(label, justify="left" if index == 0 else "right")
    for cells in body:
        table.add_row(*cells)
    return table


def render_markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table with a one-line caption."""
    header, body = _cells(result)
    lines = [
        f"**{_title(result)}** ({_caption(result)})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|",
        *("| " + " | ".join(cells) + " |" for cells in body),
    ]
    return "\n".join(lines) + "\n"


def write_reports(result: dict[str, Any], output_dir: str | Path) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``metrics.md`` into ``output_dir``."""
    folder = Path(output_dir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        json_path, md_path = folder / "metrics.json", folder / "metrics.md"
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        md_path.write_text(render_markdown(result))
    except OSError as err:
        raise UserError(f"{folder}: cannot write the reports ({err.strerror})") from None
    return json_path, md_path


# ----------------------------------------------------------------------------- entry point


def run(cfg: DictConfig) -> dict[str, Any]:
    """Compose the evaluation the config asks for, print and save its table."""
    device = resolve_device(cfg.device)
    loaded = load_model(cfg.ckpt_path)
    model = loaded.model
    common = {
        "scale": loaded.scale,
        "hr_size": cfg.hr_size,
        "max_images": cfg.max_images,
        "batch_size": cfg.batch_size,
        "device": device,
    }
    if cfg.mode == "paired":
        lpips_model = None
        if cfg.lpips.enabled:
            lpips_model = metrics.build_lpips(cfg.lpips.weights_path, cfg.lpips.net).to(device)
        result = evaluate_paired(
            model,
            cfg.hr_dir,
            degradation=cfg.degradation,
            seed=cfg.seed,
            crop_border=cfg.crop_border,
            test_y_channel=cfg.test_y_channel,
            lpips_model=lpips_model,
            **common,
        )
    elif cfg.mode == "unpaired":
        extractor = metrics.build_inception(cfg.fid.weights_path)
        result = evaluate_unpaired(
            model,
            cfg.lr_dir,
            cfg.ref_hr_dir,
            extractor,
            kid_subsets=cfg.fid.kid_subsets,
            kid_subset_size=cfg.fid.kid_subset_size,
            seed=cfg.seed,
            **common,
        )
    else:
        raise UserError(f"mode={cfg.mode!r} unknown; choose paired or unpaired")
    checkpoint = model_label(cfg.ckpt_path)
    result["checkpoint"] = {"path": checkpoint, "source": loaded.source, "ema": loaded.ema}
    json_path, md_path = write_reports(result, cfg.output_dir)
    console = Console()
    console.print(render_table(result))
    console.print(f"wrote {json_path} and {md_path}")
    return result


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@exit_on_user_error
def _main(cfg: DictConfig) -> None:
    """One-line errors, exit status 2 on bad input."""
    run(cfg)


main = cli("evaluate", _main)  # console script scgan-evaluate


if __name__ == "__main__":
    main()
