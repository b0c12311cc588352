"""Check the real-LR measures against ground truth on controlled sets (docs/EVALUATION.md).

    python tools/validate_real_lr_measures.py --output checkpoints/measure_validation \
        --sets outputs/controlled/gauss_noise_jpeg outputs/controlled/gauss_noise_jpeg+wider_like \
        --models naive=src/scgan_lightning/assets/scgan_faces_small.pt scgan=... \
        --snapshots outputs/benchmark/<set>/scgan/restorers

Every restorer (bicubic and bicubic + unsharp masking, a sharp but unfaithful one, always
among them) restores each set's held-out LR faces; the measures a real face set allows are
computed against the set's HR half, the truths against the faces' own HR. Writes
agreement.json (every score) and agreement.md (Kendall's tau per set and check). Each set's
scores are kept in rows/<set>.json as soon as they exist, and a rerun with the same methods
and settings reuses them: a check of six sets takes an hour on two cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import torch

from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.agreement import CHECKS, rank_agreement, score_set
from scgan_lightning.evaluation.faces import face_files, load_faces
from scgan_lightning.evaluation.paired import bicubic
from scgan_lightning.filters import gaussian_lowpass
from scgan_lightning.imaging import bicubic_upsample
from scgan_lightning.inference import FaceRestorer
from scgan_lightning.metrics.realism import DescriptorRealism

HR_SIZE, SCALE = 64, 4


def unsharp_bicubic(lr: torch.Tensor, amount: float = 1.5, sigma: float = 1.5) -> torch.Tensor:
    """Bicubic, then unsharp masking: sharper than HR faces in places, faithful in none."""
    up = bicubic_upsample(lr, HR_SIZE)
    return (up + amount * (up - gaussian_lowpass(up, sigma))).clamp(-1, 1)


def methods(models: list[str], snapshot_dirs: list[Path]) -> dict:
    """Name -> restore function: the two hand-made baselines, the models, every snapshot."""
    found = {"bicubic": bicubic(HR_SIZE), "bicubic_unsharp": unsharp_bicubic}
    paths = dict(item.split("=", 1) for item in models)
    for folder in snapshot_dirs:
        run = folder.parent.name if folder.name == "restorers" else folder.name
        for path in sorted(folder.glob("iter_*.pt")):
            paths[f"{run}@{path.stem[5:]}"] = str(path)
    for name, path in paths.items():
        restorer = FaceRestorer.from_checkpoint(path, device="cpu", precision="32")
        found[name] = functools.partial(restorer.restore_faces)
    return found


def markdown(sets: dict[str, dict], agreement: dict[str, dict]) -> str:
    header = ["measure vs truth", *sets, "mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, per_set in agreement.items():
        taus = [per_set[name]["kendall"] for name in sets]
        cells = [f"{t:+.2f}" for t in taus] + [f"**{sum(taus) / len(taus):+.2f}**"]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines) + "\n"


def _scored_set(
    folder: Path, found: dict, realism: DescriptorRealism | None, args: argparse.Namespace
) -> dict:
    """One set's rows, from rows/<set>.json when it holds these methods and settings."""
    settings = {
        "max_pairs": args.max_pairs,
        "ref_images": args.ref_images,
        "realism": realism is not None,
    }
    kept = args.output / "rows" / f"{folder.name}.json"
    if kept.is_file():
        saved = json.loads(kept.read_text())
        if saved["settings"] == settings and sorted(saved["rows"]) == sorted(found):
            print(f"{folder.name}: reused {kept}", flush=True)
            return saved["rows"]
    reference = load_faces(face_files(folder / "hr", "hr", args.ref_images), HR_SIZE)
    rows = score_set(found, folder / "val", reference, realism, SCALE, max_pairs=args.max_pairs)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    print(f"{folder.name}: {len(rows)} methods scored", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=Path, nargs="+", required=True, help="controlled sets")
    parser.add_argument("--models", nargs="*", default=[], help="name=checkpoint ...")
    parser.add_argument("--snapshots", type=Path, nargs="*", default=[], help="restorers/ dirs")
    parser.add_argument("--max-pairs", type=int, default=200)
    parser.add_argument("--ref-images", type=int, default=1000, help="HR half faces compared")
    parser.add_argument("--no-realism", action="store_true", help="skip the dlib distances")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    try:
        found = methods(args.models, args.snapshots)
        realism = None if args.no_realism else DescriptorRealism()
        rows = {folder.name: _scored_set(folder, found, realism, args) for folder in args.sets}
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    agreement = {
        f"{c.measure} vs {c.truth}": {name: rank_agreement(r, c) for name, r in rows.items()}
        for c in CHECKS
        if all(c.measure in next(iter(r.values())) for r in rows.values())
    }
    args.output.mkdir(parents=True, exist_ok=True)
    settings = {"max_pairs": args.max_pairs, "ref_images": args.ref_images}
    result = {"settings": settings, "rows": rows, "agreement": agreement}
    (args.output / "agreement.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / "agreement.md").write_text(markdown(rows, agreement))
    print(markdown(rows, agreement))
    return 0


if __name__ == "__main__":
    sys.exit(main())
