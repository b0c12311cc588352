"""What every module that trains G_RLS shares: warm start, EMA, validation, counters.

``SCGANModule`` (the semi-cycled step) and ``SupervisedRestorerModule`` (the naive and oracle
baselines) validate, export and resume the same way, so their scores sit side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import pytorch_lightning as pl
import torch
from torch import nn

from ..autotune import Requested, Settings
from ..checkpoints import initial_states
from ..errors import CheckpointError
from ..imaging import as_8bit, bicubic_upsample
from ..metrics.fidelity import paired_scores
from .ema import make_ema_copy, update_ema, warmed_up_decay
from .recipe import EMA, Schedule
from .speed import apply_adam, apply_layout, autocast
from .speed_tuning import SpeedTuning

log = logging.getLogger(__name__)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class RestorerTrainingModule(pl.LightningModule):
    """Base: ``g_rls`` (and ``ema_rls``), ``iteration``, the budget, validation and checkpoint
    state.

    Subclasses build their networks, call :meth:`_init_speed` and :meth:`_init_restorer_side`
    at the end of their ``__init__``, name the ``phase`` each step belongs to, run each
    training step inside :meth:`_step_context` and call :meth:`_advance` once an iteration.
    """

    g_rls: nn.Module
    ema_rls: nn.Module | None
    schedule: Schedule

    def _init_restorer_side(self, ema: EMA, init_from: str | None) -> None:
        self.ema_settings = ema
        self.ema_rls = make_ema_copy(self.g_rls) if ema.decay else None
        self.iteration = 0
        if init_from:
            self._initialise_from(init_from)

    def _initialise_from(self, path: str) -> None:
        """Start from trained weights (not a resume: optimisers and counters start fresh)."""
        states = initial_states(path)
        for name, state in states.items():
            network = getattr(self, name, None)
            if network is None:
                continue
            try:
                network.load_state_dict(state)
            except RuntimeError as err:
                first_line = str(err).strip().splitlines()[-1].strip()
                raise CheckpointError(
                    f"{path}: its {name} does not fit this model's {name} "
                    f"(model.net={self.hparams.net}; {first_line})"
                ) from None
        if self.ema_rls is not None and "ema_rls" not in states and "g_rls" in states:
            self.ema_rls.load_state_dict(self.g_rls.state_dict())
        log.info("initialised %s from %s", ", ".join(sorted(states)), path)

    def _update_ema(self) -> None:
        """One EMA step; with ``ema.warmup`` the decay ramps up, so that a restorer trained
        from scratch is not averaged with its random initial weights."""
        decay = self.ema_settings.decay
        if self.ema_settings.warmup:
            decay = warmed_up_decay(decay, self.iteration)
        update_ema(self.ema_rls, self.g_rls, decay)

    # ------------------------------------------------------------------ the budget
    @property
    def budget(self) -> int | None:
        """The iterations this run trains for; None: the Trainer's limits end it."""
        raise NotImplementedError

    def cosine(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """``schedule`` for ``optimizer``, over the budget unless ``schedule.t_max`` is set; it
        is stepped once every ``schedule.every`` iterations."""
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.schedule.steps(self.budget), eta_min=self.schedule.eta_min
        )

    def _rate_moves_after(self, iterations_done: int) -> bool:
        """Whether the learning rates move once ``iterations_done`` iterations are done:
        every ``schedule.every``, counted from the run's start, so a resumed run moves them
        where an unbroken one would."""
        return iterations_done % self.schedule.every == 0

    def _advance(self) -> None:
        """One iteration done; at the end of the budget, the run stops after this batch (and
        Lightning validates the weights it ends with)."""
        self.iteration += 1
        if self._trainer is not None and self.budget is not None and self.iteration >= self.budget:
            self.trainer.should_stop = True

    def on_train_batch_start(self, batch, batch_idx: int) -> int | None:
        """A run resumed at the end of its budget trains no further (-1: skip the epoch)."""
        if self.budget is not None and self.iteration >= self.budget:
            self.trainer.should_stop = True
            return -1
        return None

    # ------------------------------------------------------------------ speed settings
    def _init_speed(self, channels_last: bool | str, adam_impl: str) -> None:
        """The configured layout and Adam (each maybe "auto"); the Trainer's precision."""
        self.requested_speed = Requested("trainer", channels_last, adam_impl)
        self.speed_settings: dict[str, Settings] = {}  # each phase's choice, once made
        fixed_adam = "default" if adam_impl == "auto" else adam_impl
        self._applied = Settings("trainer", channels_last is True, fixed_adam)
        if channels_last is True:
            self.to(memory_format=torch.channels_last)

    def _init_compile(self, compile: bool | str, networks: tuple[str, ...]) -> None:
        """``model.compile``: ``torch.compile`` the forward of ``networks`` in place (their
        state-dict keys stay); true = mode "default". "reduce-overhead" replays CUDA graphs on a
        GPU (each step is marked for it in :meth:`_step_context`); on a CPU it is "default"."""
        mode = "default" if compile is True else (compile or None)
        if mode is not None and mode not in COMPILE_MODES:
            raise ValueError(f"model.compile must be false, true or one of {COMPILE_MODES}")
        for name in networks if mode else ():
            getattr(self, name).compile(mode=mode)
        self.compile_mode = mode

    def use_auto_precision(self) -> None:
        """``trainer.precision=auto``: the Trainer runs 32-true and this module runs float32
        or its own bf16 autocast, per phase, as ``SpeedTuning`` decides (``cli.train`` calls
        it)."""
        self.requested_speed = dataclasses.replace(self.requested_speed, precision="auto")

    def configure_callbacks(self) -> list[pl.Callback]:
        """Settings asked "auto" are timed on the run's first steps by ``SpeedTuning``."""
        return [SpeedTuning()] if self.requested_speed.automatic else []

    def apply_speed(self, settings: Settings) -> None:
        """Run the next steps under ``settings``: the weights, Adam moments and inputs in its
        layout, the optimisers in its Adam, the step in its autocast."""
        if settings == self._applied:
            return
        optimizers = self._raw_optimizers()
        apply_layout(self, optimizers, settings.channels_last)
        apply_adam(optimizers, settings.adam_impl)
        self._applied = settings

    def _step_context(self) -> contextlib.AbstractContextManager:
        """What a training step runs inside: the current settings' autocast (precision
        "auto"); the step is marked for CUDA-graph replay under "reduce-overhead"."""
        if self.compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are free
        return autocast(self._applied, self.device)

    def _raw_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = self.optimizers(use_pl_optimizer=False)
        return list(optimizers) if isinstance(optimizers, list | tuple) else [optimizers]

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self._applied.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @property
    def inference_restorer(self) -> nn.Module:
        """The EMA restorer when EMA is on, else the trained one."""
        return self.ema_rls if self.ema_rls is not None else self.g_rls

    def validation_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        """PSNR / SSIM of the restorer and of the bicubic baseline, scored as ``evaluate``
        scores them: 8-bit LR in, 8-bit outputs against the HR faces (BasicSR convention)."""
        hr, lr = batch["hr"], as_8bit(batch["lr"])
        sr = self.inference_restorer(self._prepare(lr)).float().clamp(-1, 1)
        bicubic = bicubic_upsample(lr, hr.shape[-1])
        scores = {
            **{f"val/{k}": v.mean() for k, v in paired_scores(sr, hr).items()},
            **{f"val/{k}_bicubic": v.mean() for k, v in paired_scores(bicubic, hr).items()},
        }
        self.log_dict(scores, batch_size=hr.shape[0], sync_dist=True)
        return {"lr": lr, "sr": sr, "hr": hr}
