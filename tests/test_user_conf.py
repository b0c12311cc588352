"""./conf is the user's config folder: experiments there are found by the train command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from tests.train_runs import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "conf" / "experiment" / "example.yaml"
PACKAGED_EXPERIMENTS = sorted(
    p.stem
    for p in (PROJECT_ROOT / "src" / "scgan_lightning" / "conf" / "experiment").glob("*.yaml")
)


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding conf/experiment/my_run.yaml, a copy of the example."""
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    shutil.copy(EXAMPLE, tmp_path / "conf" / "experiment" / "my_run.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_example_experiment_composes_from_the_working_directory(user_folder: Path):
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=my_run"])
    assert cfg.task_name == "my_run"
    assert cfg.model.net.width == 0.125 and cfg.model.stages.semi_cycled == 74
    assert cfg.data._target_ == "scgan_lightning.data.FaceDataModule"
    assert OmegaConf.to_container(cfg.data)["hr_dir"] == "${paths.data_dir}/demo/hr_train"


def test_the_train_command_picks_up_an_experiment_dropped_into_conf(user_folder: Path):
    mine = user_folder / "conf" / "experiment" / "my_run.yaml"
    mine.write_text(mine.read_text().replace("width: 0.125", "width: 0.0625"))
    done = subprocess.run(
        [sys.executable, "-m", "scgan_lightning.train", "experiment=my_run", "--cfg", "job"],
        cwd=user_folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    job = OmegaConf.create(done.stdout)
    assert job.task_name == "my_run" and job.model.net.width == 0.0625


@pytest.mark.parametrize("experiment", PACKAGED_EXPERIMENTS)
def test_no_packaged_experiment_reads_data_outside_the_project_or_paths_data_dir(
    experiment: str,
):
    overrides = [f"experiment={experiment}", "paths.root_dir=/project", "paths.data_dir=/faces"]
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    for key in ("hr_dir", "lr_dir", "val_hr_dir"):
        value = OmegaConf.select(cfg, f"data.{key}", throw_on_missing=False)
        if value is None or OmegaConf.is_missing(cfg.data, key):
            continue  # given on the command line (scgan_official)
        assert str(value).startswith(("/faces/", "/project/data/")), (key, value)
