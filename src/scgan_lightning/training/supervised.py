"""SupervisedRestorerModule: G_RLS alone, L1 on (LR, HR) pairs.

The two baselines of the controlled benchmark train with it, under the budget they are given
(stated beside their scores): *naive* on (avgpool(HR), HR), the released G_DHL target, which
ignores the domain gap; *oracle* on (true degradation(HR), HR), the supervised upper bound
that no unpaired method should pass. Same network, EMA, validation and ``restorer.pt`` as
``SCGANModule``, so the three are scored the same way.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..nets import Restorer
from .restorer_base import RestorerTrainingModule
from .speed import adam_flags


class SupervisedRestorerModule(RestorerTrainingModule):
    """L1 regression of HR from paired LR; Adam with a per-iteration cosine schedule."""

    def __init__(
        self,
        width: float = 0.25,
        hr_size: int = 64,
        scale: int = 4,
        lr: float = 3e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        iterations: int = 6000,
        eta_min: float = 1e-5,
        ema_decay: float | None = 0.999,
        ema_warmup: bool = True,
        channels_last: bool | str = False,
        init_from: str | None = None,
        adam_impl: str = "default",
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.g_rls = Restorer(width)
        self._init_restorer_side(ema_decay, init_from)
        self._init_speed(channels_last, adam_impl)
        self._init_compile(compile, ("g_rls",))

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        optimizer = torch.optim.Adam(
            self.g_rls.parameters(),
            lr=hp.lr,
            betas=tuple(hp.betas),
            **adam_flags(self._applied.adam_impl),
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=hp.iterations, eta_min=hp.eta_min
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    @property
    def phase(self) -> str:
        """One kind of step throughout: one speed choice."""
        return "supervised"

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        with self._step_context():
            loss = self._loss(batch)
        self.log("train/L1", loss.detach(), prog_bar=True, batch_size=batch["hr"].shape[0])
        return loss

    def _loss(self, batch: dict) -> torch.Tensor:
        hr, lr = self._prepare(batch["hr"]), self._prepare(batch["lr"])
        return F.l1_loss(self.g_rls(lr), hr)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema_rls is not None:
            self._update_ema()
        self.iteration += 1
        if self.iteration % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("iteration", float(self.iteration), batch_size=batch["hr"].shape[0])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["scgan"] = {"iteration": self.iteration}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.iteration = int(checkpoint.get("scgan", {}).get("iteration", 0))

    def parameter_counts(self) -> dict[str, int]:
        return {"g_rls": sum(p.numel() for p in self.g_rls.parameters())}
