"""Content shifts (the content-gap track): framing, light, greyscale, pose selection, and the
controlled set and DataModule built with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scgan_lightning.data import ControlledFaceDataModule
from scgan_lightning.data.content import (
    ContentShift,
    Greyscale,
    Illumination,
    PoseSelection,
    Reframe,
    load_content_shift,
    preset_names,
    shift_images,
)
from scgan_lightning.data.controlled import build_controlled_set, read_manifest
from scgan_lightning.data.datasets import DegradedPairsDataset, UnpairedFaceDataset
from scgan_lightning.data.degradation import load_degradation
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import list_images, read_face

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def _demo_faces(count: int, folder: str = "hr_val") -> torch.Tensor:
    return torch.stack([read_face(p, 64) for p in list_images(DEMO / folder)[:count]])


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_reframe_at_zoom_one_and_no_shift_keeps_the_face():
    face = _demo_faces(1)[0]
    same = Reframe(zoom=1.0, shift=0.0)(face, _rng(), 64)
    assert (same - face).abs().mean() < 0.01


def test_reframe_zoomed_out_puts_the_shrunken_face_in_the_middle():
    face = _demo_faces(1)[0]
    small = Reframe(zoom=0.5, shift=0.0)(face, _rng(), 64)
    assert small.shape == face.shape and small.abs().max() <= 1.0
    expected = torch.nn.functional.interpolate(face[None], size=32, mode="area")[0]
    assert (small[:, 16:48, 16:48] - expected).abs().mean() < 0.05


def test_illumination_darkens_and_flattens_and_greyscale_is_grey():
    faces = _demo_faces(8)
    dark = torch.stack(
        [Illumination(gamma=1.8, contrast=0.6)(f, _rng(i), 64) for i, f in enumerate(faces)]
    )
    assert dark.mean() < faces.mean() - 0.1
    assert dark.std(dim=(1, 2, 3)).mean() < faces.std(dim=(1, 2, 3)).mean()
    grey = Greyscale(probability=1.0)(faces[0], _rng(), 64)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_shifted_faces_depend_on_seed_and_name_only():
    shift = load_content_shift("wider_augment")
    faces = _demo_faces(4)
    keys = [f"lr/{i}.png" for i in range(4)]
    first = shift_images(shift, faces, keys, seed=3)
    assert torch.equal(first, shift_images(shift, faces, keys, seed=3))
    assert torch.equal(first[1:], shift_images(shift, faces[1:], keys[1:], seed=3))
    assert not torch.equal(first, shift_images(shift, faces, keys, seed=4))


def test_a_shift_that_changes_the_size_is_named_in_the_error():
    def crop(image, rng):
        return image[:, :32, :32]

    with pytest.raises(ValueError, match=r"content shift .*crop.* returned"):
        shift_images(crop, _demo_faces(1), ["a"], seed=0)


def test_yaw_changes_sign_with_a_mirror_and_selection_keeps_the_most_turned():
    pose = PoseSelection(share=0.25)  # dlib's 68 landmarks: the identity extra (dev installs it)
    faces = _demo_faces(16)
    scores = pose.score(faces)
    yaw = pose._estimator(faces)
    mirrored = pose._estimator(faces.flip(-1))
    turned = np.abs(yaw) > 0.15  # clearly turned faces flip their sign with the image
    assert turned.sum() >= 3
    assert np.all(np.sign(yaw[turned]) == -np.sign(mirrored[turned]))
    chosen = ContentShift(select=[pose]).chosen(faces)
    assert len(chosen) == 4
    assert set(chosen) == set(np.argsort(-scores)[:4])


def test_presets_load_and_an_unknown_one_lists_them():
    assert {"framing", "grey", "light", "pose", "wider_like", "wider_augment"} <= set(
        preset_names()
    )
    with pytest.raises(UserError, match="unknown content shift 'sepia'; choose one of framing"):
        load_content_shift("sepia")


class _ByBrightness:
    """A selection stub: prefers brighter faces (no dlib needed)."""

    share = 0.5

    def score(self, images):
        return images.mean(dim=(1, 2, 3)).numpy()


def _gap_set(tmp_path: Path) -> Path:
    shift = ContentShift(steps=[Greyscale(probability=1.0)], select=[_ByBrightness()], name="g")
    build_controlled_set(
        [DEMO / "hr_val"],
        tmp_path / "set",
        load_degradation("avgpool"),
        {"degradation": "avgpool", "content_shift": "g"},
        val_count=16,
        content_shift=shift,
    )
    return tmp_path / "set"


def _is_grey(path: Path) -> bool:
    face = read_face(path, 64)
    return bool(torch.equal(face[0], face[1]) and torch.equal(face[1], face[2]))


def test_a_gap_set_draws_and_shifts_the_lr_population_and_keeps_its_ground_truth(tmp_path):
    out = _gap_set(tmp_path)
    manifest = read_manifest(out)
    assert manifest["content_shift"] == "g"
    # 48 training faces: the brighter half is the LR population, the rest stays the HR half
    assert manifest["counts"] == {"hr": 24, "lr": 24, "val": 8}
    hr, clean = list_images(out / "hr"), list_images(out / "lr_clean")
    assert [p.name for p in clean] == [p.name for p in list_images(out / "lr")]
    assert not {p.name for p in hr} & {p.name for p in clean}
    brightness = {p.name: read_face(p, 64).mean().item() for p in hr}
    assert not any(_is_grey(p) for p in hr)
    assert all(_is_grey(p) for p in clean) and all(_is_grey(p) for p in list_images(out / "val/hr"))
    source = {p.name: read_face(p, 64).mean().item() for p in list_images(DEMO / "hr_val")}
    assert max(brightness.values()) <= min(source[p.name] for p in clean)


def test_the_in_domain_oracle_of_a_gap_set_trains_on_the_lr_population(tmp_path):
    _gap_set(tmp_path)
    common = {
        "set_dir": tmp_path / "set",
        "sources": [DEMO / "hr_val"],
        "degradation": "avgpool",
        "val_count": 16,
        "train_pairs": "degraded_hr",
        "content_shift": {"_target_": "scgan_lightning.data.content.ContentShift", "name": "g"},
        "batch_size": 4,
    }
    oracle = ControlledFaceDataModule(**common)
    in_domain = ControlledFaceDataModule(**common, train_hr="lr_clean")
    assert Path(oracle.hparams.hr_dir).name == "hr"
    assert Path(in_domain.hparams.hr_dir).name == "lr_clean"
    common.pop("content_shift")
    with pytest.raises(UserError, match="train_hr=lr_clean needs a content_shift"):
        ControlledFaceDataModule(**common, train_hr="lr_clean")


def test_a_set_without_shift_has_no_clean_lr_folder(tmp_path):
    build_controlled_set(
        [DEMO / "hr_val"], tmp_path / "plain", load_degradation("avgpool"), {}, val_count=16
    )
    assert not (tmp_path / "plain" / "lr_clean").exists()
    assert "content_shift" not in read_manifest(tmp_path / "plain")


def test_hr_augmentation_changes_hr_faces_per_item_and_epoch_reproducibly():
    files = list_images(DEMO / "hr_val")[:6]
    augment = ContentShift(steps=[Greyscale(probability=0.5)])
    dataset = UnpairedFaceDataset(files, files, flip=False, seed=1, hr_augment=augment)
    greys = [
        bool(torch.equal(dataset[(i, 0)]["hr"][0], dataset[(i, 0)]["hr"][1])) for i in range(6)
    ]
    assert 0 < sum(greys) < 6  # half of them, drawn per item
    assert torch.equal(dataset[(2, 0)]["hr"], dataset[(2, 0)]["hr"])
    later = [
        bool(torch.equal(dataset[(i, 1)]["hr"][0], dataset[(i, 1)]["hr"][1])) for i in range(6)
    ]
    assert later != greys  # drawn afresh each epoch


def test_an_oracles_pairs_degrade_the_augmented_hr_face():
    """The oracle given SCGAN's augmentation: each pair's LR is the chain of the face its HR
    shows, and the face is the one UnpairedFaceDataset draws for that item and epoch."""
    files = list_images(DEMO / "hr_val")[:6]
    augment = ContentShift(steps=[Greyscale(probability=0.5)])
    chain = load_degradation("avgpool")
    pairs = DegradedPairsDataset(files, chain, seed=1, hr_augment=augment)
    unpaired = UnpairedFaceDataset(files, files, seed=1, hr_augment=augment)
    for index in range(6):
        pair = pairs[(index, 1)]
        assert torch.equal(pair["hr"], unpaired[(index, 1)]["hr"])
        expected = torch.nn.functional.avg_pool2d(pair["hr"][None], 4)[0]
        assert torch.allclose(pair["lr"], expected, atol=1e-6)
    plain = DegradedPairsDataset(files, chain, seed=1)
    changed = [not torch.equal(pairs[(i, 1)]["hr"], plain[(i, 1)]["hr"]) for i in range(6)]
    assert 0 < sum(changed) < 6


def test_the_set_builder_command_builds_the_content_gap_track(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "set"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scgan_lightning.build_set",
            f"sources=[{DEMO / 'hr_val'}]",
            f"out={out}",
            "val_count=16",
            "degradation=avgpool",
            "content_shift=grey",
            f"paths.log_dir={tmp_path}",
        ],
        check=True,
        capture_output=True,
    )
    assert read_manifest(out)["content_shift"] == "grey"
    # The LR population carries the shift (a share of greyscale faces), the HR half does not,
    # and the val ground truth is the shifted face its LR was made from.
    assert any(_is_grey(p) for p in list_images(out / "lr_clean"))
    assert not any(_is_grey(p) for p in list_images(out / "hr"))
    assert [_is_grey(p) for p in list_images(out / "val" / "hr")] == [
        _is_grey(p) for p in list_images(out / "val" / "lr")
    ]
