"""``data.on_device``: the unpaired set as uint8 tensors on the training device (here the CPU),
batches drawn there: exact pixels, unpaired partners, flips, seeded per epoch, and a run."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from scgan_lightning.data import FaceDataModule
from scgan_lightning.data.device_set import DeviceFaceBatches, to_float
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import to_uint8
from tests.train_runs import TINY_WIDTH, make_face_folders, scgan_module


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_face_folders(tmp_path_factory.mktemp("faces"), n_hr=8, n_lr=6, n_val=2)


def _module(folders, **options) -> FaceDataModule:
    data = FaceDataModule(
        folders["hr"], folders["lr"], folders["val"], batch_size=4, on_device=True, **options
    )
    data.setup("fit")
    return data


def test_uint8_round_trip_is_exact_for_decoded_faces():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(torch.from_numpy(to_uint8(to_float(pixels))), pixels.permute(0, 2, 3, 1))


def test_batches_hold_the_folder_faces_exactly(folders):
    data = _module(folders)
    loader = data.train_dataloader()
    batches = data.train_set
    hr_all = torch.stack([batches.read_hr(i) for i in range(len(batches.files))])
    lr_all = torch.stack([batches.read_lr(i) for i in range(len(batches.lr_files))])
    seen_hr = []
    for batch in loader:
        assert batch["hr"].shape == (4, 3, 64, 64) and batch["lr"].shape == (4, 3, 16, 16)
        for face in batch["lr"]:  # every LR is one of the LR folder's faces
            assert (lr_all - face).abs().amax(dim=(1, 2, 3)).min() < 1e-6
        seen_hr += list(batch["hr"])
    # One epoch: every HR face once (8 faces, two batches of 4).
    distances = torch.stack([(hr_all - face).abs().amax(dim=(1, 2, 3)) for face in seen_hr])
    assert sorted(distances.argmin(dim=1).tolist()) == list(range(8))
    assert distances.min(dim=1).values.max() < 1e-6


def test_draws_follow_seed_and_epoch_and_flip_when_asked():
    hr = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
    lr = torch.randint(0, 256, (5, 3, 2, 2), dtype=torch.uint8)
    batches = DeviceFaceBatches(hr, lr, 4, flip=True, seed=3)
    again = DeviceFaceBatches(hr, lr, 4, flip=True, seed=3)
    assert len(batches) == 2
    assert all(torch.equal(batches[(0, 1)][k], again[(0, 1)][k]) for k in ("hr", "lr"))
    assert not torch.equal(batches[(0, 0)]["hr"], batches[(0, 1)]["hr"])
    flipped = torch.cat([batches[(b, e)]["hr"] for e in range(4) for b in range(2)])
    originals = to_float(hr)
    mirrored = [not any(torch.equal(face, o) for o in originals) for face in flipped]
    assert any(mirrored) and not all(mirrored)
    assert all(
        any(torch.equal(face.flip(-1), o) for o in originals)
        for face, was in zip(flipped, mirrored, strict=True)
        if was
    )
    with pytest.raises(ValueError, match="one batch"):
        DeviceFaceBatches(hr[:2], lr, 4)


def test_only_unpaired_sets_go_on_the_device(folders):
    with pytest.raises(UserError, match="on_device"):
        FaceDataModule(
            folders["hr"],
            folders["lr"],
            folders["val"],
            on_device=True,
            train_pairs="degraded_hr",
            train_degradation="avgpool",
        )


def test_a_run_trains_from_the_device_set(folders):
    data = FaceDataModule(
        folders["hr"], folders["lr"], folders["val"], batch_size=4, on_device=True, flip=True
    )
    torch.manual_seed(0)
    module = scgan_module(TINY_WIDTH)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=data)
    assert module.iteration == 4  # two epochs of two batches
