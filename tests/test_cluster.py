"""Clusters: sweeps as submitit jobs, requeue on SLURM's signal, several nodes through torchrun.

The slow tests run the commands of docs/TRAINING.md "Running on SLURM" (``DOCUMENTED``, checked
to be there word for word) with tiny data and a few steps appended, on the CPU over gloo.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from pytorch_lightning.loggers import CSVLogger

from scgan_lightning.cli.train import continue_preempted, ddp_sweep_refused
from scgan_lightning.errors import UserError
from scgan_lightning.training.preemption import (
    PREEMPTED_MARKER,
    SUBMITIT_SIGNAL_VARIABLE,
    keep_earlier_metrics,
    share_signal_with_submitit,
    without_lightning_requeue,
)
from tests.train_runs import (
    PROJECT_ROOT,
    SESSION_CACHE,
    make_face_folders,
    run_dirs,
    run_train,
    train_overrides,
    wait_for_iteration,
)

TRAIN = "python -m scgan_lightning.train"
DOCUMENTED = {
    "local_sweep": f"{TRAIN} -m hydra/launcher=local seed=1,2",
    "two_nodes": (
        "torchrun --nnodes 2 --node_rank {rank} --nproc_per_node 1 --master_addr 127.0.0.1 "
        "--master_port {port} -m scgan_lightning.train trainer=ddp_cpu trainer.devices=1 "
        "trainer.num_nodes=2 hydra.run.dir={run_dir}"
    ),
    "slurm_nodes": (
        f"{TRAIN} -m hydra/launcher=slurm hydra.launcher.partition=gpu "
        "trainer=ddp trainer.devices=4 trainer.num_nodes=2"
    ),
}
# What the docs show in the placeholders of DOCUMENTED["two_nodes"].
DOCUMENTED_TWO_NODES = {"port": 29500, "run_dir": "outputs/train/two_nodes"}
# How long a launcher may take: its jobs train for seconds, but the CI machine may be shared.
LAUNCH_TIMEOUT = 1800
RANK_CHECK = (
    "+callbacks.rank_check._target_=scgan_lightning.training.callbacks.RankConsistencyCheck"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return make_face_folders(tmp_path_factory.mktemp("faces"))


def _arguments(command: str) -> list[str]:
    """The arguments after ``python -m scgan_lightning.train``."""
    assert command.startswith(TRAIN)
    return shlex.split(command[len(TRAIN) :])


def test_the_commands_the_tests_run_are_the_documented_ones():
    docs = " ".join((PROJECT_ROOT / "docs" / "TRAINING.md").read_text().split())
    for name, command in DOCUMENTED.items():
        if name == "two_nodes":
            for rank in (0, 1):
                shown = command.format(rank=rank, **DOCUMENTED_TWO_NODES)
                assert shown in docs, shown
        else:
            assert command in docs, command


# --- the SLURM launcher's job script ----------------------------------------------------------


class _ScriptWritten(Exception):
    """Stops the launcher once the sbatch script exists, before anything is submitted."""


def _sbatch_script(tmp_path: Path, monkeypatch, overrides: list[str]) -> str:
    """The sbatch script hydra/launcher=slurm writes for ``overrides``, through the plugin's
    own launcher and submitit's executor (an ``srun`` on PATH is all submitit checks for)."""
    import submitit
    from hydra.core.utils import setup_globals

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    scripts = []

    class RecordingExecutor(submitit.AutoExecutor):
        def map_array(self, *args, **kwargs):
            scripts.append(self._executor._make_submission_file_text("COMMAND", "uid"))
            raise _ScriptWritten

    monkeypatch.setattr(submitit, "AutoExecutor", RecordingExecutor)
    setup_globals()
    GlobalHydra.instance().clear()
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                f"paths.root_dir={tmp_path}",
                f"hydra.sweep.dir={tmp_path / 'sweep'}",
            ],
            return_hydra_config=True,
        )
    launcher = OmegaConf.create(OmegaConf.to_container(cfg.hydra.launcher, resolve=True))
    from hydra.utils import instantiate

    slurm = instantiate(launcher)
    slurm.setup(hydra_context=None, task_function=None, config=cfg)
    with pytest.raises(_ScriptWritten):
        slurm.launch([["seed=1"]], initial_job_idx=0)
    (script,) = scripts
    return script


def test_slurm_launcher_asks_for_sigusr1_and_one_task_per_device(tmp_path, monkeypatch):
    script = _sbatch_script(tmp_path, monkeypatch, _arguments(DOCUMENTED["slurm_nodes"])[1:])
    lines = script.splitlines()
    for flag in (
        "--signal=USR1@120",
        "--requeue",
        "--partition=gpu",
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--time=1440",
    ):
        assert f"#SBATCH {flag}" in lines, flag
    export = lines.index("export SUBMITIT_PREEMPT_SIGNAL=USR1")
    srun = next(i for i, line in enumerate(lines) if line.startswith("srun "))
    assert export < srun, "the job must see the signal submitit requeues on"


@pytest.mark.parametrize("argv", [["-m", "seed=1,2"], ["--multirun"], ["hydra.mode=MULTIRUN"]])
def test_a_multirun_with_another_submitit_signal_is_refused(monkeypatch, argv):
    monkeypatch.setenv(SUBMITIT_SIGNAL_VARIABLE, "USR2")
    with pytest.raises(UserError, match=r"SUBMITIT_PREEMPT_SIGNAL=USR2: .* must requeue on USR1"):
        share_signal_with_submitit(argv)


def test_a_single_run_leaves_a_users_submitit_signal_alone(monkeypatch):
    """No launcher is involved in a single run: the user's setting is theirs (another tool's)."""
    monkeypatch.setenv(SUBMITIT_SIGNAL_VARIABLE, "USR2")
    share_signal_with_submitit(["experiment=demo"])
    assert os.environ[SUBMITIT_SIGNAL_VARIABLE] == "USR2"
    monkeypatch.delenv(SUBMITIT_SIGNAL_VARIABLE)
    share_signal_with_submitit(["-m", "seed=1,2"])
    assert os.environ[SUBMITIT_SIGNAL_VARIABLE] == "USR1"


# --- who owns requeue ---------------------------------------------------------------------------

SLURM_JOB = {
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_NNODES": "1",
    "SLURM_JOB_NAME": "train",
    "SLURM_JOB_ID": "4242",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
}


def test_under_slurm_lightning_is_told_not_to_requeue(monkeypatch):
    import pytorch_lightning as pl
    from lightning_fabric.plugins.environments import SLURMEnvironment

    assert without_lightning_requeue([]) == []  # not in a SLURM job: Lightning decides alone
    for key, value in SLURM_JOB.items():
        monkeypatch.setenv(key, value)
    (environment,) = without_lightning_requeue([])
    trainer = pl.Trainer(accelerator="cpu", devices=1, plugins=[environment], logger=False)
    chosen = trainer._accelerator_connector.cluster_environment
    assert isinstance(chosen, SLURMEnvironment) and not chosen.auto_requeue
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "run")  # torchrun inside a SLURM job
    assert without_lightning_requeue([]) == []


def test_ddp_sweeps_need_the_slurm_launcher():
    ddp = OmegaConf.create({"devices": 2, "strategy": "ddp_find_unused_parameters_true"})
    slurm = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    local = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
    basic = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    assert ddp_sweep_refused(ddp, basic)
    assert ddp_sweep_refused(ddp, local)
    assert not ddp_sweep_refused(ddp, slurm)
    assert not ddp_sweep_refused(OmegaConf.create({"devices": 1}), basic)


# --- continuing a job stopped by a signal -------------------------------------------------------


def _config(tmp_path: Path, *overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_module("scgan_lightning.conf", version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path / 'run'}",
                *overrides,
            ],
        )


def _stopped_run(tmp_path: Path, cfg) -> Path:
    """A run directory as a job stopped by SIGUSR1 at iteration 3 leaves it."""
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"saved")
    note = {"checkpoint": "last.ckpt", "signals": ["SIGUSR1"], "iteration": 3}
    (checkpoints / PREEMPTED_MARKER).write_text(json.dumps(note))
    (tmp_path / "run" / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return checkpoints / "last.ckpt"


def test_a_job_started_again_with_its_config_continues_from_its_signal_checkpoint(tmp_path):
    cfg = _config(tmp_path)
    assert continue_preempted(cfg) is None  # a fresh directory
    checkpoint = _stopped_run(tmp_path, cfg)
    assert continue_preempted(cfg) == (str(checkpoint), 3)
    assert continue_preempted(_config(tmp_path, "resume_preempted=false")) is None


def test_a_damaged_note_is_named_in_one_line(tmp_path):
    cfg = _config(tmp_path)
    _stopped_run(tmp_path, cfg)
    (tmp_path / "run" / "checkpoints" / PREEMPTED_MARKER).write_text("{trunc")
    with pytest.raises(UserError, match=rf"{PREEMPTED_MARKER}: not a note this project wrote"):
        continue_preempted(cfg)


def test_another_config_in_a_stopped_run_directory_starts_afresh(tmp_path, caplog):
    _stopped_run(tmp_path, _config(tmp_path))
    assert continue_preempted(_config(tmp_path, "model.optimiser.lr=0.001")) is None
    assert "its config differs from this one's: starting afresh" in caplog.text


def test_the_earlier_attempt_keeps_its_metrics(tmp_path):
    logger = CSVLogger(tmp_path, name="csv", version="")
    earlier = Path(logger.log_dir) / "metrics.csv"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("iteration\n1.0\n2.0\n")
    (kept,) = keep_earlier_metrics([logger], iteration=2)
    assert kept.name == "metrics_to_iteration_2.csv"
    assert kept.read_text() == "iteration\n1.0\n2.0\n" and not earlier.exists()


# --- the documented commands, run -------------------------------------------------------------


# Quiet jobs sharing one timing cache; one thread each, as a scheduler gives each job its own
# cores: two jobs of two threads each on a 2-core machine ran 9x slower than one.
JOB_ENVIRONMENT = {
    "PYTHONWARNINGS": "ignore",
    "SCGAN_CACHE_DIR": SESSION_CACHE,
    "OMP_NUM_THREADS": "1",
}


@contextlib.contextmanager
def _started(command: list[str], output: Path) -> Iterator[subprocess.Popen]:
    """``command`` from the project root, its output in ``output``, in a process group of its
    own that is killed whole on the way out: submitit's local jobs and torchrun's workers
    outlive a launcher that failed."""
    with output.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **JOB_ENVIRONMENT},
        )
        try:
            yield process
        finally:
            _stop(process, marker=str(output.parent))


def _stop(process: subprocess.Popen, marker: str) -> None:
    """SIGTERM first, so that torchrun closes its workers; then SIGKILL the group and any
    process left whose command line names this test's folder: torchrun's workers run in
    process groups of their own and, stuck on a dead peer, ignore SIGTERM."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(entry.name), signal.SIGKILL)


def _sweep(overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "scgan_lightning.train", "-m", *overrides]


def _iterations(path: Path) -> list[int]:
    rows = csv.DictReader(path.open())
    return [int(float(row["iteration"])) for row in rows if row.get("train/G_RLS")]


def _sweep_runs(log_dir: Path) -> list[Path]:
    """The sweep's run directories, checked to lie where Hydra's own launcher puts them."""
    runs = run_dirs(log_dir)
    assert [r.relative_to(log_dir / "train").parts[1:] for r in runs] == [("0",), ("1",)]
    assert len({r.parent for r in runs}) == 1 and runs[0].parent.name.startswith("multirun_")
    return runs


@pytest.mark.slow
def test_a_sweep_through_submitit_runs_each_job_where_the_basic_launcher_would(folders, tmp_path):
    sweep = _arguments(DOCUMENTED["local_sweep"])[1:]
    output = tmp_path / "sweep.out"
    with _started(_sweep(train_overrides(folders, tmp_path, *sweep)), output) as launcher:
        launcher.wait(timeout=LAUNCH_TIMEOUT)
    assert launcher.returncode == 0, output.read_text()
    runs = _sweep_runs(tmp_path)
    seeds = [yaml.safe_load((r / "config_resolved.yaml").read_text())["seed"] for r in runs]
    assert seeds == [1, 2]
    for run in runs:
        assert _iterations(run / "csv" / "metrics.csv") == [1, 2]
        assert (run / "restorer.pt").is_file() and (run / "grids" / "val_0000.png").is_file()
        last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        assert last["scgan"]["iteration"] == 2
    job_logs = list((runs[0].parent / ".submitit").rglob("*_log.out"))
    assert len(job_logs) == 2
    assert all("Job completed successfully" in log.read_text() for log in job_logs)


def _process_writing(log_file: Path) -> int:
    """The submitit job process that holds ``log_file`` (its run's train.log) open."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"submitit.core._submit" not in (proc / "cmdline").read_bytes():
                continue
            if any(os.readlink(fd) == str(log_file) for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:  # gone, or not ours to read
            continue
    raise AssertionError(f"no submitit job holds {log_file} open")


@pytest.mark.slow
def test_sigusr1_to_a_submitit_job_requeues_it_and_it_resumes_from_its_checkpoint(
    folders, tmp_path
):
    epochs, batches = 3, 4
    overrides = train_overrides(
        folders,
        tmp_path,
        *_arguments(DOCUMENTED["local_sweep"])[1:],
        f"trainer.max_epochs={epochs}",
        f"trainer.limit_train_batches={batches}",
        "trainer.limit_val_batches=0",
    )
    output = tmp_path / "sweep.out"
    with _started(_sweep(overrides), output) as launcher:
        signalled = wait_for_iteration(tmp_path, launcher, timeout=LAUNCH_TIMEOUT)
        os.kill(_process_writing(signalled / "train.log"), signal.SIGUSR1)  # SLURM's warning
        launcher.wait(timeout=LAUNCH_TIMEOUT)
    assert launcher.returncode == 0, output.read_text()

    log = (signalled / "train.log").read_text()
    resumed = re.search(
        rf"resuming from {re.escape(str(signalled))}/checkpoints/last\.ckpt: this job was "
        r"stopped by SIGUSR1 at iteration (\d+)",
        log,
    )
    assert resumed, log
    stop = int(resumed.group(1))
    assert 2 <= stop < epochs * batches, "the signal did not stop the job mid-run"
    job_logs = "".join(p.read_text() for p in signalled.parent.rglob(".submitit/*/*_log.out"))
    assert "Requeued job" in job_logs
    # Each attempt logged once: the first up to the batch before the stop (the requeue exits
    # at the end of the stopping batch, before Lightning logs it), the second from the stop on.
    before = _iterations(signalled / "csv" / f"metrics_to_iteration_{stop}.csv")
    after = _iterations(signalled / "csv" / "metrics.csv")
    assert before == list(range(1, stop))
    assert after == list(range(stop + 1, epochs * batches + 1))
    for run in _sweep_runs(tmp_path):
        last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        assert last["scgan"]["iteration"] == epochs * batches
        # One last.ckpt, written again by the requeued job: no last-v1.ckpt, and no
        # hpc_ckpt_<n>.ckpt of Lightning's own SLURM requeue.
        names = [p.name for p in (run / "checkpoints").glob("*.ckpt")]
        assert "last.ckpt" in names and not [n for n in names if n.startswith(("last-", "hpc"))]
        assert (run / "restorer.pt").is_file()
    other = next(r for r in run_dirs(tmp_path) if r != signalled)
    assert "resuming from" not in (other / "train.log").read_text()


@pytest.mark.slow
def test_a_signal_that_reaches_one_ddp_rank_stops_every_rank_at_the_same_batch(folders, tmp_path):
    """The save is collective: a rank saving alone would wait for the others forever."""
    run_train(
        train_overrides(
            folders,
            tmp_path,
            "trainer=ddp_cpu",
            "trainer.limit_train_batches=4",
            "trainer.limit_val_batches=0",
            "+callbacks.signal_rank_1._target_=tests.run_callbacks.SignalOnOneRank",
        ),
        timeout=LAUNCH_TIMEOUT,
    )
    (run,) = run_dirs(tmp_path)
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["scgan"]["iteration"] == 2  # batch 1 of 4, on both ranks
    note = json.loads((run / "checkpoints" / PREEMPTED_MARKER).read_text())
    assert note["iteration"] == 2 and note["signals"] == []  # rank 0 heard nothing itself


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_through_torchrun_end_with_identical_weights(folders, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    run_dir = tmp_path / "train" / "two_nodes"
    port = _free_port()
    commands = []
    for rank in (0, 1):
        command = shlex.split(DOCUMENTED["two_nodes"].format(rank=rank, port=port, run_dir=run_dir))
        assert command[0] == "torchrun"
        commands.append(
            [str(torchrun), *command[1:], *train_overrides(folders, tmp_path, RANK_CHECK)]
        )
    logs = [tmp_path / "node_0.out", tmp_path / "node_1.out"]
    with _started(commands[0], logs[0]) as node_0, _started(commands[1], logs[1]) as node_1:
        nodes = [node_0, node_1]
        for node in nodes:
            node.wait(timeout=LAUNCH_TIMEOUT)
    outputs = [log.read_text() for log in logs]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]  # node 1 ran the second rank
    report = json.loads((run_dir / "rank_checksums.json").read_text())
    assert report["world_size"] == 2
    assert report["identical"], report["checksums"]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["scgan"]["iteration"] == 2
