"""SCGANModule: the semi-cycled GAN training step as a LightningModule (manual optimisation).

One training step reproduces the released code: the forward cycle (HR -> G_DHL -> G_RLS), the
backward cycle (real LR -> G_RLS -> G_DSL), four hinge discriminator losses stepped first, then
the three generator losses against the just-updated discriminators. Adam is element-wise and
the networks' parameters are disjoint, so one Adam over the generators (a param group each)
and one over the discriminators, with one summed backward each, give the released per-network
updates exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_scale
from ..filters import gaussian_lowpass
from ..networks import build_network, check_spec
from ..released import RELEASED
from .losses import (
    DegraderLoss,
    LossWeights,
    degrader_term,
    generator_term,
    hinge_discriminator,
    power_spectrum,
    spectrum_distance,
)
from .recipe import EMA, RELEASED_EPOCH, Optimiser, Schedule, Stages, plain, typed
from .restorer_base import RestorerTrainingModule
from .speed import adam_flags
from .step_guard import StepGuard

log = logging.getLogger(__name__)

# The released cosine: a period of 10 epochs (recipe.RELEASED_EPOCH).
RELEASED_SCHEDULE = Schedule(t_max=10 * RELEASED_EPOCH, every=RELEASED_EPOCH)
GENERATORS = ("g_dhl", "g_rls", "g_dsl")
DISCRIMINATORS = ("d_l1", "d_l2", "d_h1", "d_h2")


def explicit_parameters(*degraders: nn.Module) -> list[nn.Parameter]:
    """The learned degradation laws of these degraders (those with an ``explicit`` part)."""
    return [p for d in degraders if hasattr(d, "explicit") for p in d.explicit.parameters()]


@dataclasses.dataclass(frozen=True)
class GeneratorOutputs:
    """What the generators make from one batch (names as in the released code)."""

    lr_gen: torch.Tensor  # G_DHL(HR, z): synthetic LR
    hr_gen: torch.Tensor  # G_RLS(lr_gen): the forward cycle's restoration
    hr_gen_r: torch.Tensor  # G_RLS(real LR)
    lr_real_2: torch.Tensor  # G_DSL(hr_gen_r, z): the backward cycle's LR
    ups: torch.Tensor  # the released loss's bicubic of the real LR (float, align_corners)


class SCGANModule(RestorerTrainingModule):
    """The seven SCGAN networks, their losses, optimisers, EMA and validation.

    The networks are specs (``networks.py``; None: the released one): ``net`` the restorer
    G_RLS, ``degrader`` G_DHL and G_DSL (two of it), ``discriminator`` the four critics, built
    at the LR size (D_L1, D_L2) and the HR size (D_H1, D_H2). The rest comes in typed groups
    (``recipe.py``, ``losses.py``); each takes its dataclass or a mapping of its fields.
    """

    def __init__(
        self,
        net: Mapping[str, Any] | None = None,
        degrader: Mapping[str, Any] | None = None,
        discriminator: Mapping[str, Any] | None = None,
        hr_size: int = 64,
        scale: int = 4,
        optimiser: Optimiser | Mapping[str, Any] | None = None,
        schedule: Schedule | Mapping[str, Any] | None = None,
        stages: Stages | Mapping[str, Any] | None = None,
        loss: LossWeights | Mapping[str, Any] | None = None,
        degrader_loss: DegraderLoss | Mapping[str, Any] | None = None,
        ema: EMA | Mapping[str, Any] | None = None,
        backward_cycle_trains_restorer: bool = False,
        init_from: str | None = None,
        max_nonfinite_steps: int = 10,
        channels_last: bool | str = False,
        adam_impl: str = "default",
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        self.optimiser = typed(Optimiser, optimiser, "optimiser")
        self.schedule = typed(Schedule, schedule, "schedule", RELEASED_SCHEDULE)
        self.stages = typed(Stages, stages, "stages")
        self.weights = typed(LossWeights, loss, "loss")
        self.degrader_loss = typed(DegraderLoss, degrader_loss, "degrader_loss")
        ema = typed(EMA, ema, "ema")
        specs = {
            "net": check_spec(net or RELEASED["restorer"], "model.net"),
            "degrader": check_spec(degrader or RELEASED["degrader"], "model.degrader"),
            "discriminator": check_spec(
                discriminator or RELEASED["discriminator"], "model.discriminator"
            ),
        }
        self.save_hyperparameters(
            {
                **specs,
                "hr_size": hr_size,
                "scale": scale,
                "optimiser": plain(self.optimiser),
                "schedule": plain(self.schedule),
                "stages": plain(self.stages),
                "loss": plain(self.weights),
                "degrader_loss": plain(self.degrader_loss),
                "ema": plain(ema),
                "backward_cycle_trains_restorer": backward_cycle_trains_restorer,
                "init_from": init_from,
                "max_nonfinite_steps": max_nonfinite_steps,
                "channels_last": channels_last,
                "adam_impl": adam_impl,
                "compile": compile,
            }
        )
        self.automatic_optimization = False
        lr_size = check_scale(hr_size, scale)
        self.g_dhl = build_network(specs["degrader"], "model.degrader")
        self.g_rls = build_network(specs["net"], "model.net")
        self.g_dsl = build_network(specs["degrader"], "model.degrader")

        def critic(size: int) -> nn.Module:
            return build_network(specs["discriminator"], "model.discriminator", image_size=size)

        self.d_l1, self.d_l2 = critic(lr_size), critic(lr_size)
        self.d_h1, self.d_h2 = critic(hr_size), critic(hr_size)
        self.guard = StepGuard(max_nonfinite_steps)
        # The real LR faces' mean spectrum, averaged over batches (degrader_loss.spectrum_weight).
        self.register_buffer("real_spectrum", torch.zeros(3, lr_size, lr_size // 2 + 1))
        self._spectrum_started = False
        self._init_restorer_side(ema, init_from)
        self._init_speed(channels_last, adam_impl)
        # Not the discriminators: see docs/PERFORMANCE.md, "Compiled step".
        self._init_compile(compile, GENERATORS)

    @property
    def budget(self) -> int | None:
        return self.stages.total

    # ----------------------------------------------------------------- optimisers
    def configure_optimizers(self):
        """One Adam over the generators, one over the discriminators; a cosine schedule for
        each, stepped by ``training_step``."""
        opt = self.optimiser
        adam_kwargs: dict[str, Any] = {
            "lr": opt.lr,
            "betas": opt.betas,
            **adam_flags(self._applied.adam_impl),
        }
        groups = [{"params": getattr(self, n).parameters(), "name": n} for n in GENERATORS]
        laws = explicit_parameters(self.g_dhl, self.g_dsl)
        if laws:
            # The explicit degradation's few laws learn at their own rate (optimiser.laws_lr).
            ids = {id(p) for p in laws}
            for group in groups:
                group["params"] = [p for p in group["params"] if id(p) not in ids]
            rate = opt.laws_lr if opt.laws_lr is not None else opt.lr
            groups.append({"params": laws, "name": "degradation_laws", "lr": rate})
        opt_g = torch.optim.Adam(groups, **adam_kwargs)
        opt_d = torch.optim.Adam(
            [{"params": getattr(self, n).parameters(), "name": n} for n in DISCRIMINATORS],
            **{**adam_kwargs, "lr": opt.lr_d if opt.lr_d is not None else opt.lr},
        )
        return [opt_g, opt_d], [self.cosine(opt_g), self.cosine(opt_d)]

    # --------------------------------------------------------------- training step
    @property
    def phase(self) -> str:
        """Which step runs now: the degrader-only stage's or the semi-cycled one."""
        pretraining = self.iteration < self.stages.pretrain
        return "degrader-only" if pretraining else "semi-cycled"

    def training_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        """One iteration of the current phase, in the phase's speed settings, then its logs."""
        opt_g, opt_d = self.optimizers()
        with self._step_context():
            losses, stepped_d = self._step(batch, opt_g, opt_d)
        self._step_schedules()
        return self._log_step(losses, batch["hr"].shape[0], opt_g, stepped_d)

    def _step(self, batch: dict, opt_g, opt_d) -> tuple[dict[str, torch.Tensor], Any]:
        """One semi-cycled iteration: generator outputs, discriminator update, generator update
        (or a degrader-only one); returns the losses and the discriminators' optimiser if it
        stepped.

        Each update is kept only if its loss and gradients are finite, decided on the device
        (``self.guard``); a NaN batch also leaves the restorer's BatchNorm statistics as they
        were.
        """
        hr, lr = self._prepare(batch["hr"]), self._prepare(batch["lr"])
        z = self.sample_noise(hr.shape[0], hr.device)
        self.guard.begin(self.g_rls.buffers())
        if self.iteration < self.stages.pretrain:
            return self._pretrain_step(hr, lr, z, opt_g, opt_d)

        out = self.generator_outputs(hr, lr, z)
        d_losses = self.discriminator_losses(hr, lr, out)
        d_ok = self._update(opt_d, sum(d_losses.values()), DISCRIMINATORS)
        with self.discriminators_frozen():
            g_losses = self.generator_losses(hr, lr, out)
            g_total = g_losses["G_DHL"] + g_losses["G_RLS"] + g_losses["G_DSL"]
            g_ok = self._update(opt_g, g_total, GENERATORS)

        self._finish_step(d_ok & g_ok, g_ok)
        return {**d_losses, **g_losses}, opt_d

    def sample_noise(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """The noise z that G_DHL and G_DSL read, one draw per batch (tests feed fixed z by
        replacing this method)."""
        return torch.randn(batch_size, 1, self.g_dhl.noise_dim, device=device)

    def generator_outputs(
        self, hr: torch.Tensor, lr: torch.Tensor, z: torch.Tensor
    ) -> GeneratorOutputs:
        """Both semi-cycles; detaches as released (or the paper's reading, see config)."""
        lr_gen = self.g_dhl(hr, z)
        hr_gen = self.g_rls(lr_gen.detach())
        hr_gen_r = self.g_rls(lr)
        into_dsl = hr_gen_r if self.hparams.backward_cycle_trains_restorer else hr_gen_r.detach()
        return GeneratorOutputs(
            lr_gen=lr_gen,
            hr_gen=hr_gen,
            hr_gen_r=hr_gen_r,
            lr_real_2=self.g_dsl(into_dsl, z),
            ups=F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=True),
        )

    def discriminator_losses(self, hr, lr, out: GeneratorOutputs) -> dict[str, torch.Tensor]:
        """Hinge losses in the released call order (real, then fake, per discriminator)."""
        show = self.degrader_loss.discriminator_input
        return {
            "D_L1": hinge_discriminator(self.d_l1(show(lr)), self.d_l1(show(out.lr_gen.detach()))),
            "D_H1": hinge_discriminator(self.d_h1(hr), self.d_h1(out.hr_gen.detach())),
            "D_L2": hinge_discriminator(
                self.d_l2(show(lr)), self.d_l2(show(out.lr_real_2.detach()))
            ),
            "D_H2": hinge_discriminator(self.d_h2(hr), self.d_h2(out.hr_gen_r.detach())),
        }

    def generator_losses(self, hr, lr, out: GeneratorOutputs) -> dict[str, torch.Tensor]:
        """The three generator objectives against the current discriminators.

        During ``stages.content_warmup`` iterations the adversarial weight is zero: small networks
        learn the L1 cycles first instead of chasing discriminators that win at once. The
        ``*_l1`` entries are the content parts alone, for the logs.
        """
        w = self.weights
        if self.iteration < self.stages.content_warmup:
            w = dataclasses.replace(w, beta=0.0, beta_degrader=0.0, beta_restorer=0.0)
        w_deg, w_rls = w.for_degraders(), w.for_restorer()
        hr_down = F.avg_pool2d(hr, self.hparams.scale)
        show, content = self.degrader_loss.discriminator_input, self.degrader_loss.content_l1
        g_dhl_content = self.degrader_content(out.lr_gen, hr_down, lr)
        g_dhl = degrader_term(g_dhl_content, self.d_l1(show(out.lr_gen)), w_deg)
        forward = generator_term(out.hr_gen, hr, self.d_h1(out.hr_gen), w_rls)
        ups, restored = out.ups, out.hr_gen_r
        if w.real_lowpass_sigma > 0:  # the restoration shrunk back, against its input
            ups = gaussian_lowpass(lr, w.real_lowpass_sigma)
            shrunk = F.avg_pool2d(out.hr_gen_r, self.hparams.scale)
            restored = gaussian_lowpass(shrunk, w.real_lowpass_sigma)
        real = generator_term(ups, restored, self.d_h2(out.hr_gen_r), w_rls)
        g_dsl = degrader_term(content(out.lr_real_2, lr), self.d_l2(show(out.lr_real_2)), w_deg)
        losses = {
            "G_DHL": g_dhl,
            "G_RLS": w.theta * forward + w.gamma * real,
            "G_RLS_forward": forward,
            "G_RLS_real": real,
            "G_DSL": g_dsl,
            "G_DHL_l1": F.l1_loss(out.lr_gen.detach(), hr_down),
            "G_RLS_forward_l1": F.l1_loss(out.hr_gen.detach(), hr),
        }
        if w.clean_anchor > 0:
            clean = F.l1_loss(self.g_rls(self._prepare(hr_down)), hr)
            losses["G_RLS"] = losses["G_RLS"] + w.clean_anchor * clean
            losses["G_RLS_clean"] = clean
        return losses

    def degrader_content(self, lr_gen: torch.Tensor, hr_down: torch.Tensor, lr: torch.Tensor):
        """G_DHL's content term: L1 to ``hr_down`` = avgpool(HR) (low band only with frequency
        separation), plus the spectrum distance to the real LR faces when ``spectrum_weight``
        is set."""
        loss = self.degrader_loss
        content = loss.content_l1(lr_gen, hr_down)
        if loss.spectrum_weight > 0:
            with torch.no_grad():  # the first batch of a process starts the average afresh
                momentum = loss.spectrum_momentum if self._spectrum_started else 0.0
                self.real_spectrum.lerp_(power_spectrum(lr), 1.0 - momentum)
                self._spectrum_started = True
            distance = spectrum_distance(lr_gen, self.real_spectrum, loss.spectrum_normalize)
            content = content + loss.spectrum_weight * distance
        return content

    @contextlib.contextmanager
    def discriminators_frozen(self) -> Iterator[None]:
        """The generator backward computes no discriminator weight gradients.

        The released code computes them and discards them; not computing them is the same
        and cheaper.
        """
        for name in DISCRIMINATORS:
            getattr(self, name).requires_grad_(False)
        try:
            yield
        finally:
            for name in DISCRIMINATORS:
                getattr(self, name).requires_grad_(True)

    def _pretrain_step(self, hr, lr, z, opt_g, opt_d) -> tuple[dict[str, torch.Tensor], Any]:
        """L1 only, forward-cycle generators only: G_DHL towards avgpool(HR), G_RLS from it.

        At widths a CPU can train, the semi-cycled step starts with a degrader whose L1 error
        to avgpool(HR) stays near 0.3 for hundreds of steps, so the restorer learns from noise.
        This stage (the PSNR-oriented pre-training of ESRGAN-style recipes) gives both
        networks their L1 targets directly; the restorer reads avgpool(HR), not G_DHL's output.
        ``stages.pretrain_restorer=False`` trains G_DHL alone, for a restorer that came trained
        (``init_from``).
        """
        hr_down = F.avg_pool2d(hr, self.hparams.scale)
        lr_gen = self.g_dhl(hr, z)
        losses = {"pretrain_G_DHL": self.degrader_content(lr_gen, hr_down, lr)}
        trained: tuple[str, ...] = ("g_dhl",)
        d_ok = torch.ones((), dtype=torch.bool, device=hr.device)
        if self.stages.pretrain_adversarial:
            show = self.degrader_loss.discriminator_input
            d_loss = hinge_discriminator(self.d_l1(show(lr)), self.d_l1(show(lr_gen.detach())))
            d_ok = self._update(opt_d, d_loss, ("d_l1",))
            losses["pretrain_D_L1"] = d_loss
            with self.discriminators_frozen():
                fake_scores = self.d_l1(show(lr_gen))
            losses["pretrain_G_DHL_adv"] = -self.stages.pretrain_beta * fake_scores.mean()
        if self.stages.pretrain_restorer:
            losses["pretrain_G_RLS"] = F.l1_loss(self.g_rls(self._prepare(hr_down)), hr)
            trained += ("g_rls",)
        generator_losses = [v for k, v in losses.items() if k != "pretrain_D_L1"]
        ok = self._update(opt_g, self.weights.alpha * sum(generator_losses), trained)
        self._finish_step(ok & d_ok, ok)
        return losses, opt_d if self.stages.pretrain_adversarial else None

    def _update(self, optimizer, loss: torch.Tensor, networks: tuple[str, ...]) -> torch.Tensor:
        """Backward and step; the update is kept only where the device flag returned is true.

        Under 16-mixed the gradient scaler skips steps with inf gradients itself and must see
        every step to adapt its scale, so only the loss is checked there.
        """
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        grads = []
        if not str(self.trainer.precision).startswith("16"):
            grads = [
                p.grad
                for name in networks
                for p in getattr(self, name).parameters()
                if p.grad is not None
            ]
        return self.guard.step(optimizer, loss, grads)

    def _finish_step(self, all_ok: torch.Tensor, g_ok: torch.Tensor) -> None:
        """Undo BatchNorm statistics of a skipped step, count it, update EMA, advance."""
        self.guard.end(all_ok)
        if self.ema_rls is not None:
            ema_tensors = [*self.ema_rls.parameters(), *self.ema_rls.buffers()]
            with self.guard.keep_ema_if(g_ok, ema_tensors):
                self._update_ema()
        self._advance()

    def _log_step(self, raw: dict, batch_size: int, opt_g, opt_d) -> dict[str, torch.Tensor]:
        """Losses go to Lightning as device tensors (it reads them at its logging steps); the
        values that need the host (counters, the progress bar) are made only on those steps."""
        losses = {k: v.detach() for k, v in raw.items()}
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, batch_size=batch_size)
        every = self.trainer.log_every_n_steps
        if every and self.iteration % every == 0:
            self.guard.check(self.iteration)
            laws = getattr(self.g_dhl, "explicit", None)
            if laws is not None:  # what G_DHL has learned of the LR domain, in readable units
                summary = {f"degradation/{k}": v for k, v in laws.summary().items()}
                self.log_dict(summary, batch_size=batch_size)
            rates = {"lr/generators": opt_g.param_groups[0]["lr"]}
            if opt_d is not None:
                rates["lr/discriminators"] = opt_d.param_groups[0]["lr"]
            self.log_dict(
                {
                    "iteration": float(self.iteration),
                    "train/nonfinite_steps": float(self.guard.seen),
                    **rates,
                },
                batch_size=batch_size,
            )
            restorer_loss = losses.get("G_RLS", losses.get("pretrain_G_RLS"))
            if restorer_loss is not None:
                self.log(
                    "train/G_RLS_loss",
                    float(restorer_loss),
                    prog_bar=True,
                    logger=False,
                    batch_size=batch_size,
                )
        return losses

    def on_train_epoch_end(self) -> None:
        self.guard.check(self.iteration)

    def _step_schedules(self) -> None:
        if not self._rate_moves_after(self.iteration):
            return
        with warnings.catch_warnings():
            # In the pre-training stage the discriminators' optimiser has not stepped yet; its
            # schedule still counts iterations from the start of the run, as intended, so
            # PyTorch's "lr_scheduler.step() before optimizer.step()" warning says nothing here.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            for scheduler in self.lr_schedulers():
                scheduler.step()

    # ------------------------------------------------------------- checkpoint state
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["scgan"] = {
            "iteration": self.iteration,
            "nonfinite_total": self.guard.skipped_total,
            "torch_rng": torch.get_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("scgan", {})
        self.iteration = int(state.get("iteration", 0))
        self.guard.load(int(state.get("nonfinite_total", 0)))
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per network (logged at start)."""
        return {
            name: sum(p.numel() for p in getattr(self, name).parameters())
            for name in GENERATORS + DISCRIMINATORS
        }
