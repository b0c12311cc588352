"""What every module that trains G_RLS shares: warm start, EMA, validation, counters.

``SCGANModule`` (the semi-cycled step) and ``SupervisedRestorerModule`` (the naive and oracle
baselines) validate, export and resume the same way, so their scores sit side by side.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch

from ..checkpoints import initial_states
from ..errors import CheckpointError
from ..imaging import as_8bit, bicubic_upsample
from ..metrics.fidelity import paired_scores
from ..nets import Restorer
from .ema import make_ema_copy, update_ema, warmed_up_decay

log = logging.getLogger(__name__)


class RestorerTrainingModule(pl.LightningModule):
    """Base: ``g_rls`` (and ``ema_rls``), ``iteration``, validation and checkpoint state.

    Subclasses build their networks, call :meth:`_init_restorer_side` at the end of their
    ``__init__`` and :meth:`_advance` once per training iteration.
    """

    g_rls: Restorer
    ema_rls: Restorer | None

    def _init_restorer_side(self, ema_decay: float | None, init_from: str | None) -> None:
        self.ema_rls = make_ema_copy(self.g_rls) if ema_decay else None
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
                    f"(model.width={self.hparams.width}; {first_line})"
                ) from None
        if self.ema_rls is not None and "ema_rls" not in states and "g_rls" in states:
            self.ema_rls.load_state_dict(self.g_rls.state_dict())
        log.info("initialised %s from %s", ", ".join(sorted(states)), path)

    def _update_ema(self) -> None:
        """One EMA step; with ``ema_warmup`` the decay ramps up, so that a restorer trained
        from scratch is not averaged with its random initial weights."""
        hp = self.hparams
        decay = hp.ema_decay
        if hp.get("ema_warmup"):
            decay = warmed_up_decay(decay, self.iteration)
        update_ema(self.ema_rls, self.g_rls, decay)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.get("channels_last") is True:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @property
    def inference_restorer(self) -> Restorer:
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
