"""What G_DHL learned: its LR faces beside the true degradation's, on the same HR faces.

On a controlled set the true LR of every validation face is known (``val/lr``), so G_DHL's
output for the same HR face can be put beside it and beside avgpool(HR), the released
G_DHL target, as a grid and as statistics that a degradation moves: edge energy (blur lowers
it, noise and JPEG raise it), a noise level, and colourfulness (the pilot's G_DHL washed
colours out).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..checkpoints import degrader_net, load_weights_file
from ..colour import luma, rgb_to_ycbcr
from ..errors import CheckpointError, UserError
from ..grids import face_table
from ..imaging import as_8bit, quantize
from ..metrics.real_lr import gradient_energy
from ..networks import build_network
from .benchmark import pair_tensors

_LAPLACE_DIFFERENCE = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def noise_level(images: torch.Tensor) -> torch.Tensor:
    """Per-image noise sigma in grey levels (Immerkaer 1996: a mask that cancels smooth
    image structure, so what it leaves is mostly noise)."""
    grey = luma(quantize(images).float())[:, 0]
    response = F.conv2d(grey[:, None], _LAPLACE_DIFFERENCE.view(1, 1, 3, 3)).abs()
    height, width = grey.shape[-2:]
    return response.flatten(1).sum(1) * math.sqrt(math.pi / 2) / (6 * (width - 2) * (height - 2))


def colourfulness(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean chroma magnitude (Cb, Cr of BT.601, grey levels)."""
    chroma = rgb_to_ycbcr(quantize(images).float())[:, 1:]
    return chroma.pow(2).sum(1).sqrt().flatten(1).mean(1)


def degradation_statistics(images: torch.Tensor) -> dict[str, float]:
    """Means over a batch of LR faces (B,3,h,w) in [-1, 1]."""
    return {
        "edge_energy": float(gradient_energy(images).mean()),
        "noise_sigma": float(noise_level(images).mean()),
        "colourfulness": float(colourfulness(images).mean()),
    }


def load_degrader(checkpoint: str | Path) -> torch.nn.Module:
    """G_DHL of a training checkpoint, built from the spec its hyper-parameters name."""
    payload = load_weights_file(checkpoint)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{checkpoint}: not a training checkpoint (no state_dict)")
    state = {
        k[len("g_dhl.") :]: v for k, v in payload["state_dict"].items() if k.startswith("g_dhl.")
    }
    if not state:
        raise CheckpointError(f"{checkpoint}: holds no G_DHL")
    spec = degrader_net(payload.get("hyper_parameters") or {}, str(checkpoint))
    try:
        degrader = build_network(spec, str(checkpoint))
        degrader.load_state_dict(state)
    except (UserError, RuntimeError) as err:
        raise CheckpointError(f"{checkpoint}: its G_DHL does not load ({err})") from None
    return degrader.eval()


@torch.no_grad()
def degrader_view(
    degrader: torch.nn.Module, pairs_dir: str | Path, faces: int = 64, seed: int = 0
) -> tuple[dict[str, dict[str, float]], torch.Tensor]:
    """Statistics of avgpool(HR), the true LR and G_DHL(HR) over the first ``faces`` pairs of
    ``pairs_dir`` (a set's ``val/``), and the three as a (3, faces, 3, h, w) stack."""
    hr, lr = pair_tensors(pairs_dir, faces)
    scale = hr.shape[-1] // lr.shape[-1]
    z = torch.randn(len(hr), 1, 64, generator=torch.Generator().manual_seed(seed))
    with torch.random.fork_rng():  # an explicit G_DHL draws its noise and JPEG quality too
        torch.manual_seed(seed)
        degraded = degrader(hr, z[:, :, : degrader.noise_dim]).float().clamp(-1, 1)
    rows = {"avgpool(HR)": F.avg_pool2d(hr, scale), "true degradation": lr, "G_DHL(HR)": degraded}
    rows = {name: as_8bit(images) for name, images in rows.items()}
    return {name: degradation_statistics(x) for name, x in rows.items()}, torch.stack(
        list(rows.values())
    )


def view_grid(stack: torch.Tensor, per_row: int = 16, zoom: int = 4) -> Image.Image:
    """Three bands (avgpool | true | G_DHL), ``per_row`` faces each, pixels zoomed."""
    return face_table(stack[:, :per_row], zoom=zoom)
