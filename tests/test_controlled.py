"""The controlled unpaired set: disjoint halves, deterministic, paired validation, safe to rerun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scgan_lightning.data import ControlledFaceDataModule
from scgan_lightning.data.controlled import build_controlled_set, read_manifest, split_faces
from scgan_lightning.data.degradation import load_degradation
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import list_images, read_face


def _faces(folder: Path, count: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + count):
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)  # not square: centre crop
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return folder


def _build(tmp_path: Path, out: str = "set", chain: str = "blur_noise_jpeg", **kwargs):
    source = tmp_path / "faces"
    if not source.exists():
        _faces(source, 21)
    return build_controlled_set(
        [source],
        tmp_path / out,
        load_degradation(chain),
        {"degradation": chain},
        val_count=5,
        **kwargs,
    )


def test_split_is_disjoint_covers_every_file_and_ignores_listing_order(tmp_path):
    files = sorted(_faces(tmp_path / "f", 21).glob("*.png"))
    split = split_faces(files, 5, seed=0)
    parts = [set(split.hr), set(split.lr), set(split.val)]
    assert sum(map(len, parts)) == 21 and set.union(*parts) == set(files)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split.val) == 5 and abs(len(split.hr) - len(split.lr)) <= 1
    assert split_faces(files[::-1], 5, seed=0) == split
    assert split_faces(files, 5, seed=1) != split


def test_built_set_has_clean_hr_degraded_lr_and_paired_validation(tmp_path):
    summary = _build(tmp_path)
    out = tmp_path / "set"
    assert summary.counts == {"hr": 8, "lr": 8, "val": 5} and not summary.failures
    names = {part: {p.name for p in list_images(out / part)} for part in ("hr", "lr")}
    assert not names["hr"] & names["lr"]  # the two domains never share a face
    val_hr, val_lr = list_images(out / "val" / "hr"), list_images(out / "val" / "lr")
    assert [p.name for p in val_hr] == [p.name for p in val_lr]
    assert read_face(val_hr[0], 64).shape == (3, 64, 64)
    with Image.open(val_lr[0]) as low:
        assert low.size == (16, 16)
    source = read_face(tmp_path / "faces" / val_hr[0].name, 64)
    assert torch.allclose(read_face(val_hr[0], 64), source, atol=1 / 127.5)  # HR stays clean
    assert read_manifest(out)["counts"] == summary.counts


def test_the_same_request_is_a_no_op_and_a_different_one_is_refused(tmp_path):
    _build(tmp_path)
    first = {p: p.read_bytes() for p in (tmp_path / "set").rglob("*.png")}
    _build(tmp_path)  # same recipe: reused
    assert {p: p.read_bytes() for p in (tmp_path / "set").rglob("*.png")} == first
    with pytest.raises(UserError, match="built differently"):
        _build(tmp_path, chain="avgpool")


def test_two_builds_in_two_folders_are_identical(tmp_path):
    _build(tmp_path, "one")
    _build(tmp_path, "two")
    for path in (tmp_path / "one").rglob("*.png"):
        assert (
            path.read_bytes()
            == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
        )


def test_a_folder_holding_other_files_is_never_written_into(tmp_path):
    (tmp_path / "set").mkdir()
    keep = tmp_path / "set" / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(UserError, match="not an empty folder"):
        _build(tmp_path)
    assert keep.read_text() == "mine" and len(list((tmp_path / "set").iterdir())) == 1


def test_unreadable_faces_and_name_clashes_are_listed_and_skipped(tmp_path):
    source = _faces(tmp_path / "faces", 21)
    (source / "bad.png").write_bytes(b"not an image")
    Image.new("RGB", (30, 30)).save(source / "003.jpg")  # same stem as 003.png: kept apart
    summary = _build(tmp_path)
    assert len(summary.failures) == 1 and "bad.png" in summary.failures[0]
    assert sum(summary.counts.values()) == 22


def test_datamodule_builds_the_set_and_serves_both_pairings(tmp_path):
    source = _faces(tmp_path / "faces", 21)
    common = {
        "set_dir": tmp_path / "set",
        "sources": [str(source)],
        "degradation": "blur_noise_jpeg",
        "val_count": 5,
        "batch_size": 4,
        "val_batch_size": 5,
    }
    unpaired = ControlledFaceDataModule(**common)
    unpaired.prepare_data()
    unpaired.setup("fit")
    batch = next(iter(unpaired.train_dataloader()))
    assert batch["hr"].shape == (4, 3, 64, 64) and batch["lr"].shape == (4, 3, 16, 16)
    val = next(iter(unpaired.val_dataloader()))
    assert val["lr"].shape == (5, 3, 16, 16)
    naive = ControlledFaceDataModule(
        **common, train_pairs="degraded_hr", train_degradation="avgpool"
    )
    naive.prepare_data()
    naive.setup("fit")
    pair = naive.train_set[(0, 0)]
    assert torch.allclose(
        pair["lr"], torch.nn.functional.avg_pool2d(pair["hr"][None], 4)[0], atol=1e-6
    )
    assert dict(naive.hparams)["train_degradation"] == "avgpool"


def test_the_oracle_trains_on_the_sets_own_chain_when_none_is_named(tmp_path):
    source = _faces(tmp_path / "faces", 21)
    oracle = ControlledFaceDataModule(
        set_dir=tmp_path / "set",
        sources=[str(source)],
        degradation="blur_noise_jpeg",
        val_count=5,
        train_pairs="degraded_hr",
        train_degradation=None,
        batch_size=4,
    )
    oracle.prepare_data()
    oracle.setup("fit")
    assert dict(oracle.hparams)["train_degradation"] == "blur_noise_jpeg"
    pair = oracle.train_set[(0, 0)]
    avgpool = torch.nn.functional.avg_pool2d(pair["hr"][None], 4)[0]
    assert pair["lr"].shape == avgpool.shape and not torch.allclose(pair["lr"], avgpool, atol=1e-2)
