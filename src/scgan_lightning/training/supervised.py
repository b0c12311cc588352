"""SupervisedRestorerModule: G_RLS alone, L1 on (LR, HR) pairs.

The two baselines of the controlled benchmark train with it, under the budget they are given
(stated beside their scores): *naive* on (avgpool(HR), HR), the released G_DHL target, which
ignores the domain gap; *oracle* on (true degradation(HR), HR), the supervised upper bound
that no unpaired method should pass. Same network, EMA, validation and ``restorer.pt`` as
``SCGANModule``, so the three are scored the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ..networks import build_network, check_spec
from ..released import RELEASED
from .recipe import EMA, Optimiser, Schedule, plain, typed
from .restorer_base import RestorerTrainingModule
from .speed import adam_flags

# The baselines' own defaults: a restorer trained from scratch, at 3x the released rate.
DEFAULT_OPTIMISER = Optimiser(lr=3e-4)
DEFAULT_EMA = EMA(decay=0.999, warmup=True)


class SupervisedRestorerModule(RestorerTrainingModule):
    """L1 regression of HR from paired LR for ``iterations`` batches; Adam with a cosine
    schedule stepped by Lightning. ``net`` is the restorer's spec (``networks.py``)."""

    def __init__(
        self,
        iterations: int,
        net: Mapping[str, Any] | None = None,
        hr_size: int = 64,
        scale: int = 4,
        optimiser: Optimiser | Mapping[str, Any] | None = None,
        schedule: Schedule | Mapping[str, Any] | None = None,
        ema: EMA | Mapping[str, Any] | None = None,
        init_from: str | None = None,
        channels_last: bool | str = False,
        adam_impl: str = "default",
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        self.optimiser = typed(Optimiser, optimiser, "optimiser", DEFAULT_OPTIMISER)
        self.schedule = typed(Schedule, schedule, "schedule")
        ema = typed(EMA, ema, "ema", DEFAULT_EMA)
        spec = check_spec(net or RELEASED["restorer"], "model.net")
        self.save_hyperparameters(
            {
                "iterations": iterations,
                "net": spec,
                "hr_size": hr_size,
                "scale": scale,
                "optimiser": plain(self.optimiser),
                "schedule": plain(self.schedule),
                "ema": plain(ema),
                "init_from": init_from,
                "channels_last": channels_last,
                "adam_impl": adam_impl,
                "compile": compile,
            }
        )
        self.g_rls = build_network(spec, "model.net")
        self._init_restorer_side(ema, init_from)
        self._init_speed(channels_last, adam_impl)
        self._init_compile(compile, ("g_rls",))

    @property
    def budget(self) -> int:
        return self.hparams.iterations

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(
            self.g_rls.parameters(),
            lr=self.optimiser.lr,
            betas=self.optimiser.betas,
            **adam_flags(self._applied.adam_impl),
        )
        schedule = {"scheduler": self.cosine(optimizer), "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": schedule}

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

    def lr_scheduler_step(self, scheduler, metric) -> None:
        """Lightning asks after every batch, before ``on_train_batch_end`` counts it; the rate
        moves once every ``schedule.every`` iterations counted from the run's start."""
        if self._rate_moves_after(self.iteration + 1):
            scheduler.step()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema_rls is not None:
            self._update_ema()
        self._advance()
        if self.iteration % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("iteration", float(self.iteration), batch_size=batch["hr"].shape[0])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["scgan"] = {"iteration": self.iteration}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.iteration = int(checkpoint.get("scgan", {}).get("iteration", 0))

    def parameter_counts(self) -> dict[str, int]:
        return {"g_rls": sum(p.numel() for p in self.g_rls.parameters())}
