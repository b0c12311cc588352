"""Write a blind comparison sheet of restorers on real LR faces, or tally a judge's picks.

    python tools/blind_sheet.py --faces faces_lr_real/heldout --count 40 \
        --models l1=src/scgan_lightning/assets/scgan_faces_small.pt gan=restorer.pt \
        --output blind/
    python tools/blind_sheet.py --tally blind/picks.json --key blind/key.json

The sheet (sheet.html) shows each face's input and, in a shuffled order per row, bicubic and
every model under letters; key.json says which letter is which. Open the sheet in a browser,
pick the best output of each row, download picks.json, then tally it against the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scgan_lightning.errors import UserError
from scgan_lightning.evaluation.blind_sheet import build_sheet, tally, write_sheet
from scgan_lightning.evaluation.faces import face_files, load_faces
from scgan_lightning.evaluation.paired import bicubic
from scgan_lightning.inference import FaceRestorer


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read it as JSON ({err})") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, help="folder of real LR faces")
    parser.add_argument("--count", type=int, default=40, help="faces on the sheet (by name)")
    parser.add_argument("--models", nargs="*", default=[], help="name=checkpoint ...")
    parser.add_argument("--seed", type=int, default=0, help="seed of the column shuffle")
    parser.add_argument("--output", type=Path, help="folder for sheet.html and key.json")
    parser.add_argument("--tally", type=Path, help="a judge's picks.json")
    parser.add_argument("--key", type=Path, help="the sheet's key.json (with --tally)")
    args = parser.parse_args()
    try:
        if args.tally:
            if not args.key:
                raise UserError("--tally needs --key (the sheet's key.json)")
            votes = tally(_read_json(args.tally), _read_json(args.key))
            for method, count in sorted(votes.items(), key=lambda item: -item[1]):
                print(f"{method}: {count}")
            return 0
        if not (args.faces and args.output and args.models):
            raise UserError("give --faces, --models and --output (or --tally with --key)")
        files = face_files(args.faces, "--faces", args.count)
        methods = {"bicubic": bicubic(64)}
        for item in args.models:
            name, _, path = item.partition("=")
            if not path:
                raise UserError(f"--models {item!r}: write name=checkpoint")
            restorer = FaceRestorer.from_checkpoint(path, "cpu", "32", channels_last=False)
            methods[name] = restorer.restore_faces
        lr = load_faces(files, 16)
        page, key = build_sheet(methods, lr, [f.name for f in files], args.seed)
        sheet, key_path = write_sheet(page, key, args.output)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(files)} faces x {len(methods)} outputs -> {sheet} (key: {key_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
