"""Checking ``ckpt_path=`` before Lightning reads it, so a damaged file is one line.

Lightning would fail deep inside ``fit`` with PyTorch's zip-reader message or a list of
mismatched keys. Here the file is read with ``weights_only=True``, checked to be a training
checkpoint of this model, and when it is not the message names the problem and the newest
checkpoint beside it that does load, which is what a user resumes from instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CheckpointError
from ..serialization import load_weights_file

# ckpt_path values that Lightning resolves itself ("last" of the run's own ModelCheckpoint...).
LIGHTNING_KEYWORDS = ("last", "best", "hpc", "registry")
# The hyper-parameters that name a training module's networks (networks.py).
NETWORK_KEYS = ("net", "degrader", "discriminator")


def fit_problem(payload: Any, model: nn.Module) -> str | None:
    """Why ``payload`` cannot resume ``model`` (None: it can)."""
    if not isinstance(payload, Mapping) or "state_dict" not in payload:
        return "not a training checkpoint (no 'state_dict')"
    if "optimizer_states" not in payload:
        return (
            "holds weights only, not the training state a resume needs "
            "(start from it with model.init_from= instead)"
        )
    state, expected = payload["state_dict"], model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if not (missing or unexpected or mismatched):
        return None
    if mismatched:
        key = mismatched[0]
        shapes = tuple(state[key].shape), tuple(expected[key].shape)
        detail = f"{key!r} has shape {shapes[0]}, this model's {shapes[1]}"
    else:
        detail = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
    return f"does not fit this model ({detail}{_network_difference(payload, model)})"


def _network_difference(payload: Mapping[str, Any], model: nn.Module) -> str:
    """Which network spec the checkpoint was trained with and this run differs in, if any."""
    saved = payload.get("hyper_parameters") or {}
    ours = getattr(model, "hparams", {})
    for key in NETWORK_KEYS:
        if key in ours and saved.get(key) != ours[key]:
            return f"; trained with model.{key}={saved.get(key)}, this run has {ours[key]}"
    return ""


def newest_loadable(folder: Path, exclude: Path) -> Path | None:
    """The most recently written ``.ckpt`` in ``folder``, other than ``exclude``, that loads
    as a training checkpoint."""
    candidates = [p for p in folder.glob("*.ckpt") if p.resolve() != exclude.resolve()]
    for path in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            payload = load_weights_file(path)
        except CheckpointError:
            continue
        if isinstance(payload, Mapping) and "optimizer_states" in payload:
            return path
    return None


def check_resume(ckpt_path: str | os.PathLike, model: nn.Module) -> None:
    """Raise a one-line ``CheckpointError`` unless ``ckpt_path`` can resume ``model``."""
    if str(ckpt_path) in LIGHTNING_KEYWORDS or "://" in str(ckpt_path):
        return
    path = Path(ckpt_path).expanduser()
    try:
        problem = fit_problem(load_weights_file(path), model)
    except CheckpointError as err:
        problem = str(err).removeprefix(f"{path}: ")
    if problem is None:
        return
    folder = path.parent
    other = newest_loadable(folder, path) if folder.is_dir() else None
    instead = (
        f"the newest loadable checkpoint beside it is {other} (resume with ckpt_path={other})"
        if other
        else f"no other checkpoint in {folder} loads"
    )
    raise CheckpointError(f"ckpt_path={path}: {problem}; {instead}")
