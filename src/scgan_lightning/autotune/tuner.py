"""Choose among candidate settings by timing units of real work run under each.

Why real work and not a probe: a probe is a second copy of the work (a model rebuilt, a step
written again outside Lightning) that costs time before anything useful happens and can drift
from what it stands for. Here the first units (training steps of a phase, restored batches)
run under the candidates in turn and still count: they train, they restore. Each candidate
runs one warm-up unit (kernels built, optimiser state made), then ``ROUNDS`` timed units,
taking turns in alternating order so a burst of load elsewhere falls on all of them alike;
its fastest timed unit counts, and ``settings.decide`` picks.

A candidate is given up, and runs no more units, once a unit of it is clearly slower: a
warm-up over ``WARMUP_GIVE_UP`` times the reference's, a timed unit over ``GIVE_UP`` times the
fastest so far. A slow candidate (bf16 on a CPU without fast bf16 kernels ran 8x slower than
float32) so costs one unit of its own. The choice is cached (``cache``) and logged in one line;
work that ends before the plan does leaves nothing cached.
"""

from __future__ import annotations

import logging
import math
from collections import deque

from .cache import cache_path, cached_choice, store_choice
from .settings import Settings, decide

log = logging.getLogger(__name__)

WARMUP_GIVE_UP = 3.0  # first units build kernels and optimiser state: a loose bound
GIVE_UP = 1.5
ROUNDS = 2  # timed units per candidate


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("s", "sh", "ch", "x")) else "s")


class Tuner:
    """The plan of one piece of work (a training phase, a restorer's batches): which setting
    the next unit runs under, and, once every candidate has been timed, the choice.

    Units of another size than ``unit_size`` (a last, partial batch) run under the current
    candidate without being timed.
    """

    def __init__(
        self,
        options: list[Settings],
        key: str,
        name: str,
        unit: str,
        unit_size: int,
        choice: Settings | None = None,
        primary: bool = True,
    ) -> None:
        self.options, self.key, self.name, self.unit = list(options), key, name, unit
        self.unit_size = unit_size
        self.choice = options[0] if len(options) == 1 else choice
        self._primary = primary  # the process that logs and writes the cache (DDP rank zero)
        rounds = [self.options if r % 2 == 0 else self.options[::-1] for r in range(ROUNDS)]
        self._plan: deque[tuple[Settings, bool]] = deque(
            [(s, False) for s in self.options] + [(s, True) for r in rounds for s in r]
        )
        self._warmup: dict[Settings, float] = {}
        self._best = {s: math.inf for s in self.options}
        self._given_up: dict[Settings, float] = {}
        self.timed_units = 0  # units run while choosing (the work tuning touched)
        if len(options) > 1 and primary:
            labels = " / ".join(s.label() for s in options)
            if choice is not None:
                log.info("speed, %s: %s (cached in %s)", name, choice.label(), cache_path())
            else:
                log.info("speed, %s: timing %s on its first %s", name, labels, _plural(unit))

    @classmethod
    def from_cache(
        cls, options: list[Settings], key: str, name: str, unit: str, unit_size: int
    ) -> Tuner:
        """A tuner that starts from the cached choice of ``key`` when there is one."""
        choice = cached_choice(key, options) if len(options) > 1 else None
        return cls(options, key, name, unit, unit_size, choice)

    @property
    def reference(self) -> Settings:
        return self.options[0]

    def current(self) -> Settings:
        """What the next unit runs under: the choice, or the candidate whose turn it is."""
        return self.choice if self.choice is not None else self._plan[0][0]

    def record(self, seconds: float, size: int) -> None:
        """The unit just run under ``current()`` took ``seconds``."""
        if self.choice is not None or size != self.unit_size:
            return
        settings, timed = self._plan.popleft()
        self.timed_units += 1
        if not timed:
            self._warmup[settings] = seconds
            if seconds > WARMUP_GIVE_UP * self._warmup[self.reference]:
                self._give_up(settings, seconds)
        else:
            fastest = min(self._best.values())
            self._best[settings] = min(self._best[settings], seconds)
            if settings != self.reference and seconds > GIVE_UP * fastest:
                self._give_up(settings, seconds)
        if not self._plan:
            self._finish()

    def _give_up(self, settings: Settings, seconds: float) -> None:
        self._best[settings] = math.inf
        self._given_up[settings] = seconds
        self._plan = deque(entry for entry in self._plan if entry[0] != settings)

    def _finish(self) -> None:
        self.choice = decide(self._best, self.reference)
        timed = {s.label(): round(t, 5) for s, t in self._best.items() if math.isfinite(t)}
        if self._primary:
            store_choice(self.key, self.choice, timed)
            log.info("speed, %s: %s (%s)", self.name, self.choice.label(), self.summary())

    def summary(self) -> str:
        """Each candidate's fastest unit and its speed-up over the reference, in one line."""
        reference = self._best[self.reference]
        parts = []
        for settings in self.options:
            seconds = self._best[settings]
            if math.isfinite(seconds):
                parts.append(
                    f"{settings.label()} {seconds:.3f} s/{self.unit} ({reference / seconds:.2f}x)"
                )
            else:
                took = self._given_up[settings]
                parts.append(f"{settings.label()} given up after a {took:.2f} s {self.unit}")
        units = f"{self.timed_units} {_plural(self.unit)}"
        return f"timed on {units} of real work: " + "; ".join(parts)
