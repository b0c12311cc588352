"""The typed groups a training module is configured by: optimiser, schedule, stages, EMA.

Each is a frozen dataclass; a config hands it over as a mapping (``model.optimiser.lr=...``)
and :func:`typed` turns that into the dataclass, refusing a key the group does not have with
the closest one. Every budget and schedule is counted in iterations: one iteration is one
training batch (one semi-cycled step, one pre-training step or one supervised step).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import UserError

Group = TypeVar("Group")

# The released train.py counts epochs: 200 of them, the cosine's period 10, its rate moved once an
# epoch. In iterations at the paper's scale (about 180k HR faces at batch 64) an epoch is 2,800.
RELEASED_EPOCH = 2_800


@dataclass(frozen=True)
class Optimiser:
    """Adam's settings. ``lr_d``: the discriminators' rate (None: ``lr``, as released);
    ``laws_lr``: the explicit degradation laws' rate (None: ``lr``)."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    lr_d: float | None = None
    laws_lr: float | None = None


@dataclass(frozen=True)
class Schedule:
    """Cosine annealing of every learning rate, as torch's ``CosineAnnealingLR``: from the rate
    at iteration 0 to ``eta_min`` at iteration ``t_max`` (None: the run's last iteration), and
    back up after it. The rate moves once every ``every`` iterations and holds between: 1 for
    a smooth cosine, an epoch's iterations for the released code's once-an-epoch staircase."""

    t_max: int | None = None
    eta_min: float = 1e-5
    every: int = 1

    def steps(self, budget: int | None) -> int:
        """The cosine's half-period in moves of the rate: ``t_max`` (or ``budget``) over
        ``every``. A given ``t_max`` must be a whole number of moves; the budget is rounded up,
        so the rate reaches ``eta_min`` at the run's end or just after it."""
        if self.every < 1:
            raise UserError(f"model.schedule.every must be at least 1, got {self.every}")
        if self.t_max is not None:
            if self.t_max % self.every:
                raise UserError(
                    f"model.schedule.t_max ({self.t_max}) must be a multiple of "
                    f"model.schedule.every ({self.every})"
                )
            return self.t_max // self.every
        if budget is None:
            raise UserError("model.schedule.t_max: give the cosine's length in iterations")
        return max(1, -(-budget // self.every))


@dataclass(frozen=True)
class Stages:
    """SCGAN's budget in iterations: ``pretrain`` iterations of pre-training, then
    ``semi_cycled`` iterations of the semi-cycled step (by default the released 200 epochs); the
    run ends after both (None: no budget of its own, the Trainer's limits end it).

    Pre-training trains G_DHL towards avgpool(HR) (L1) and, with ``pretrain_restorer``, G_RLS
    from avgpool(HR) (L1); with ``pretrain_adversarial`` G_DHL also plays against D_L1 at
    weight ``pretrain_beta``. The first ``content_warmup`` iterations, counted from the start,
    give the generators' adversarial terms weight zero.
    """

    pretrain: int = 0
    semi_cycled: int | None = 200 * RELEASED_EPOCH
    pretrain_restorer: bool = True
    pretrain_adversarial: bool = False
    pretrain_beta: float = 1.0
    content_warmup: int = 0

    @property
    def total(self) -> int | None:
        return None if self.semi_cycled is None else self.pretrain + self.semi_cycled


@dataclass(frozen=True)
class EMA:
    """The restorer's exponential moving average, validated and exported in its place.
    ``decay`` None: off; ``warmup``: the decay ramps up from 0, so that a restorer trained
    from scratch is not averaged with its random initial weights."""

    decay: float | None = None
    warmup: bool = False


def typed(
    cls: type[Group],
    value: Group | Mapping[str, Any] | None,
    name: str,
    default: Group | None = None,
) -> Group:
    """``value`` as the dataclass ``cls``: itself, or a mapping of the fields that differ from
    ``default`` (None: the class's defaults), or None for ``default`` itself. ``name`` is the
    config key, for the message about an unknown field."""
    base = default if default is not None else cls()
    if value is None:
        return base
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise UserError(f"model.{name} must be a mapping of {cls.__name__} fields, got {value!r}")
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in value:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"model.{name}.{key} is not a setting{hint}; it has {fields}")
    values = dict(value)
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    return dataclasses.replace(base, **values)  # type: ignore[type-var]


def plain(group: Any) -> dict[str, Any]:
    """A dataclass group as the plain dict a checkpoint's hyper-parameters hold."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(group).items()}
