"""Datasets, pairing, degradations and the DataModule on small generated images."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from scgan_lightning.data import (
    FaceDataModule,
    PairedFolderDataset,
    PairedSyntheticDataset,
    UnpairedFaceDataset,
)
from scgan_lightning.data.datasets import DegradedPairsDataset, EpochShuffleSampler
from scgan_lightning.data.degradation import degrade_images, load_degradation
from scgan_lightning.errors import UserError
from scgan_lightning.imaging import list_images, resize, to_tensor

DEMO_DATA = Path(__file__).resolve().parents[1] / "data" / "demo"


def write_image(path: Path, size: tuple[int, int] = (24, 24), value: int = 0) -> Path:
    """Write a noisy RGB PNG whose mean encodes ``value`` (so items can be told apart)."""
    rng = np.random.default_rng(value)
    pixels = np.clip(value + rng.integers(-3, 4, (size[1], size[0], 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def write_folder(folder: Path, count: int, size: tuple[int, int], offset: int = 0) -> list[Path]:
    return [write_image(folder / f"{i:03d}.png", size, 10 + 6 * i + offset) for i in range(count)]


def lr_id(lr: torch.Tensor) -> int:
    """Recover the index of an LR face written by write_folder from its mean grey level."""
    return round(((lr.mean().item() + 1) * 127.5 - 10) / 6)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    write_folder(tmp_path / "hr", 12, (40, 30))
    write_folder(tmp_path / "lr", 30, (20, 20))
    write_folder(tmp_path / "val", 10, (64, 64))
    return {"hr_dir": tmp_path / "hr", "lr_dir": tmp_path / "lr", "val_hr_dir": tmp_path / "val"}


def make_dm(folders: dict[str, Path], **kwargs) -> FaceDataModule:
    args = {key: str(value) if isinstance(value, Path) else value for key, value in folders.items()}
    args["batch_size"] = 4
    return FaceDataModule(**(args | kwargs))


# --- items --------------------------------------------------------------------------------------


def test_unpaired_items_have_configured_sizes_and_range(folders):
    dataset = UnpairedFaceDataset(
        list_images(folders["hr_dir"]), list_images(folders["lr_dir"]), hr_size=32, scale=2
    )
    item = dataset[3]
    assert item["hr"].shape == (3, 32, 32) and item["lr"].shape == (3, 16, 16)
    for tensor in item.values():
        assert tensor.dtype == torch.float32
        assert tensor.min() >= -1.0 and tensor.max() <= 1.0


def test_hr_is_centre_square_cropped_not_squashed(tmp_path):
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[:, 20:40] = 255  # white centre square between black side bands
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    lr = write_image(tmp_path / "lr.png", (16, 16))
    hr = UnpairedFaceDataset([tmp_path / "wide.png"], [lr], hr_size=64)[0]["hr"]
    assert torch.allclose(hr, torch.ones_like(hr))


def test_lr_is_resized_to_hr_size_over_scale(tmp_path):
    hr = write_image(tmp_path / "hr.png", (64, 64))
    lr = write_image(tmp_path / "lr.png", (37, 37), value=200)
    item = UnpairedFaceDataset([hr], [lr], hr_size=64, scale=4)[0]
    expected = to_tensor(resize(Image.open(lr).convert("RGB"), 16))
    assert torch.equal(item["lr"], expected)


def test_hr_size_must_be_a_multiple_of_scale(folders):
    with pytest.raises(UserError, match="multiple of the scale"):
        UnpairedFaceDataset(list_images(folders["hr_dir"]), list_images(folders["lr_dir"]), 30, 4)


# --- pairing ------------------------------------------------------------------------------------


def pairs(dataset: UnpairedFaceDataset, epoch: int) -> list[int]:
    return [dataset.draw(i, epoch).lr_index for i in range(len(dataset))]


def test_pairing_is_reproducible_and_changes_with_epoch_and_seed(folders):
    hr, lr = list_images(folders["hr_dir"]), list_images(folders["lr_dir"])
    first, again = UnpairedFaceDataset(hr, lr, seed=7), UnpairedFaceDataset(hr, lr, seed=7)
    assert pairs(first, 0) == pairs(again, 0)
    assert pairs(first, 0) != pairs(first, 1)
    assert pairs(first, 0) != pairs(UnpairedFaceDataset(hr, lr, seed=8), 0)


def test_items_use_the_drawn_lr_and_the_epoch_key(folders):
    dataset = UnpairedFaceDataset(list_images(folders["hr_dir"]), list_images(folders["lr_dir"]))
    dataset.set_epoch(2)
    for index in range(len(dataset)):
        expected = dataset.draw(index, 2).lr_index
        assert lr_id(dataset[index]["lr"]) == expected
        assert torch.equal(dataset[(index, 2)]["lr"], dataset[index]["lr"])


def test_every_lr_face_is_used_equally_often_like_the_released_shuffled_list(tmp_path):
    hr = write_folder(tmp_path / "hr", 10, (16, 16))
    lr = write_folder(tmp_path / "lr", 25, (8, 8))
    dataset = UnpairedFaceDataset(hr, lr, hr_size=16)
    drawn = [index for epoch in range(5) for index in pairs(dataset, epoch)]  # 50 = 2 x 25
    assert Counter(drawn) == dict.fromkeys(range(25), 2)


def test_flip_mirrors_items_without_changing_the_pairing(tmp_path):
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels[:, :8] = 255  # left half white
    Image.fromarray(pixels).save(tmp_path / "half.png")
    lr = write_folder(tmp_path / "lr", 5, (16, 16))
    hr = [tmp_path / "half.png"] * 40
    plain = UnpairedFaceDataset(hr, lr, hr_size=16, scale=1)
    flipped = UnpairedFaceDataset(hr, lr, hr_size=16, scale=1, flip=True)
    assert pairs(plain, 0) == pairs(flipped, 0)
    mirrored = [flipped[i]["hr"][0, 0, 0].item() < 0 for i in range(40)]
    assert 5 < sum(mirrored) < 35
    assert [flipped[i]["hr"][0, 0, 0].item() < 0 for i in range(40)] == mirrored


def test_sampler_is_a_seeded_per_epoch_permutation():
    sampler = EpochShuffleSampler(20, seed=3)
    epoch0 = list(sampler)
    assert sorted(i for i, _ in epoch0) == list(range(20)) and {e for _, e in epoch0} == {0}
    assert list(EpochShuffleSampler(20, seed=3)) == epoch0
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert {e for _, e in epoch1} == {1} and [i for i, _ in epoch1] != [i for i, _ in epoch0]


def batches(loader: DataLoader) -> list[torch.Tensor]:
    return [torch.cat([batch["hr"].flatten(1), batch["lr"].flatten(1)], 1) for batch in loader]


def test_train_batches_do_not_depend_on_worker_count(folders):
    dm0, dm2 = make_dm(folders, num_workers=0), make_dm(folders, num_workers=2)
    for dm in (dm0, dm2):
        dm.setup("fit")
    loader0, loader2 = dm0.train_dataloader(), dm2.train_dataloader()
    for epoch in (0, 1):
        loader0.sampler.set_epoch(epoch)
        loader2.sampler.set_epoch(epoch)
        assert all(
            torch.equal(a, b) for a, b in zip(batches(loader0), batches(loader2), strict=True)
        )
    assert len(loader0) == 12 // 4


class _Recorder(pl.LightningModule):
    """Records which LR face each HR face met, epoch by epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def on_train_epoch_start(self) -> None:
        self.seen.append([])

    def training_step(self, batch, batch_idx):
        self.seen[-1] += [lr_id(lr) for lr in batch["lr"]]
        return (self.weight * batch["hr"].mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`")
def test_lightning_advances_the_pairing_every_epoch(folders):
    recorder = _Recorder()
    trainer = pl.Trainer(
        max_epochs=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(recorder, datamodule=make_dm(folders, seed=5))
    assert len(recorder.seen) == 2 and all(len(epoch) == 12 for epoch in recorder.seen)
    assert recorder.seen[0] != recorder.seen[1]


# --- datamodule ---------------------------------------------------------------------------------


def test_datamodule_batches_and_validation_set(folders):
    dm = make_dm(folders, max_val_images=6, val_batch_size=4)
    dm.setup("fit")
    train = next(iter(dm.train_dataloader()))
    assert train["hr"].shape == (4, 3, 64, 64) and train["lr"].shape == (4, 3, 16, 16)
    val = list(dm.val_dataloader())
    assert [len(batch["hr"]) for batch in val] == [4, 2]
    assert dm.val_set.files == list_images(folders["val_hr_dir"])[:6]
    assert torch.equal(val[0]["lr"], F.avg_pool2d(val[0]["hr"], 4))
    assert dm.skipped_files == [] and dm.skipped_summary == "no files skipped"


def test_datamodule_accepts_several_folders(folders, tmp_path):
    extra = tmp_path / "more_hr"
    write_folder(extra, 3, (30, 30))
    dm = make_dm(folders | {"hr_dir": [str(folders["hr_dir"]), str(extra)]})
    dm.setup("fit")
    assert len(dm.train_set) == 15 and dm.train_set.files[-1].parent == extra


@pytest.mark.parametrize("key", ["hr_dir", "lr_dir", "val_hr_dir"])
def test_missing_folder_is_a_one_line_error_naming_it(folders, tmp_path, key):
    missing = tmp_path / "nowhere" / key
    with pytest.raises(UserError) as error:
        make_dm(folders | {key: missing}).setup("fit")
    assert f"data.{key}" in str(error.value) and str(missing) in str(error.value)
    assert "\n" not in str(error.value)


def test_folder_without_images_is_an_error(folders, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no faces here")
    with pytest.raises(UserError, match=r"data\.lr_dir: no image files .* in .*empty"):
        make_dm(folders | {"lr_dir": empty}).setup("fit")


def test_too_few_usable_training_images_is_an_error(folders, tmp_path):
    few = tmp_path / "few"
    write_folder(few, 2, (32, 32))
    (few / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"data\.lr_dir: only 2 readable image\(s\)"):
        make_dm(folders | {"lr_dir": few}, min_train_images=3).setup("fit")
    with pytest.raises(UserError, match=r"data\.hr_dir: only 2 .*batch_size=4"):
        make_dm(folders | {"hr_dir": few}).setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_degradation": "gaussian"}, "unknown degradation 'gaussian'"),
        ({"hr_size": 62}, "multiple of the scale"),
        ({"batch_size": 0}, "data.batch_size must be at least 1"),
        ({"max_val_images": 0}, "data.max_val_images"),
    ],
)
def test_bad_config_values_fail_at_construction(folders, kwargs, message):
    with pytest.raises(UserError, match=message):
        make_dm(folders, **kwargs)


def test_validate_stage_builds_only_the_validation_set(folders):
    dm = make_dm(folders)
    dm.setup("validate")
    assert dm.train_set is None and len(dm.val_set) == 10


# --- degradations and paired / LR-only datasets ----------------------------------------------


def test_bicubic_preset_matches_pil_antialiased_resize():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    expected = to_tensor(resize(image, 16))
    low = degrade_images(load_degradation("bicubic"), to_tensor(image)[None], 4, [0])[0]
    assert (low - expected).abs().max() < 4 / 127.5


def test_paired_dataset_degrades_each_face_by_its_name(folders):
    files = list_images(folders["val_hr_dir"])
    first = PairedSyntheticDataset(files, 64, 4, "blur_noise_jpeg")
    again = PairedSyntheticDataset(files[3:], 64, 4, "blur_noise_jpeg", max_items=2)
    chain = load_degradation("blur_noise_jpeg")
    item = first[3]
    assert torch.equal(item["lr"], again[0]["lr"])  # same face, same LR, whatever the listing
    assert torch.equal(item["lr"], degrade_images(chain, item["hr"][None], 4, [files[3].name])[0])
    reseeded = PairedSyntheticDataset(files, 64, 4, "blur_noise_jpeg", seed=1)
    assert not torch.equal(item["lr"], reseeded[3]["lr"])


def test_paired_folder_dataset_pairs_by_name_and_names_a_missing_lr(tmp_path):
    hr = write_folder(tmp_path / "hr", 3, (64, 64))
    write_folder(tmp_path / "lr", 3, (16, 16), offset=1)
    dataset = PairedFolderDataset(hr, tmp_path / "lr", 64, 4)
    item = dataset[1]
    assert item["hr"].shape == (3, 64, 64) and item["lr"].shape == (3, 16, 16)
    (tmp_path / "lr" / "002.png").unlink()
    with pytest.raises(UserError, match=r"no LR of the same name, e\.g\. .*002\.png"):
        PairedFolderDataset(hr, tmp_path / "lr", 64, 4)


def test_degraded_pairs_follow_the_epoch_and_the_chain(tmp_path):
    hr = write_folder(tmp_path / "hr", 4, (64, 64))
    dataset = DegradedPairsDataset(hr, "blur_noise_jpeg", 64, 4)
    first, same, later = dataset[(1, 0)], dataset[(1, 0)], dataset[(1, 1)]
    assert torch.equal(first["lr"], same["lr"]) and not torch.equal(first["lr"], later["lr"])
    assert torch.equal(first["hr"], later["hr"])
    naive = DegradedPairsDataset(hr, "avgpool", 64, 4)[(1, 0)]
    assert torch.allclose(naive["lr"], F.avg_pool2d(naive["hr"][None], 4)[0], atol=1e-6)


# --- real data ----------------------------------------------------------------------------------


def test_real_faces_load_at_training_sizes():
    hr = list_images(DEMO_DATA / "hr_val")[:8]
    lr = list_images(DEMO_DATA / "lr_train")[:8]
    dataset = UnpairedFaceDataset(hr, lr)
    item = dataset[(0, 0)]
    assert item["hr"].shape == (3, 64, 64) and item["lr"].shape == (3, 16, 16)
    assert dataset.skipped == [] and item["hr"].std() > 0.05


def test_demo_data_has_the_documented_counts_and_sizes():
    counts = {"hr_train": 600, "lr_train": 600, "hr_val": 64, "lr_test": 32}
    for name, count in counts.items():
        files = list_images(DEMO_DATA / name)
        assert len(files) == count
        side = 64 if name.startswith("hr") else 16
        assert Image.open(files[0]).size == (side, side)
    train = {p.read_bytes() for p in list_images(DEMO_DATA / "lr_train")}
    assert not train & {p.read_bytes() for p in list_images(DEMO_DATA / "lr_test")}
    assert (DEMO_DATA / "photo.jpg").is_file() and (DEMO_DATA / "README.md").is_file()
