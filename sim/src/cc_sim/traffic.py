"""A traffic generator: Poisson callers per number, IVR choices, patience, talk and wrap-up.

Every draw comes from one seeded random generator and every delay is simulated time on the
switch's scheduler, so a run with the same seed and configuration produces the same calls,
and ``time_compression`` makes an hour of traffic take a minute (or a second).

    traffic = TrafficGenerator(
        sim.switch,
        sim.callers,
        numbers=[NumberTraffic("8000", calls_per_hour=120, ivr_choices=(("1", 0.7), ("2", 0.3)))],
        agents=AgentTraffic(users=("1001", "1002"), talk=Distribution.parse("exp:180")),
        seed=7,
    )
    traffic.start()
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from cc_sim.clock import Timer
from cc_sim.engine.endpoints import AgentPhone, CallerScript
from cc_sim.engine.switch import Switch
from cc_sim.people import Callers

KINDS = ("fixed", "exp", "uniform", "normal", "lognormal")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A duration distribution in seconds: ``fixed:30``, ``exp:180``, ``uniform:20-40``,
    ``normal:180,30``, ``lognormal:180,60`` (mean and standard deviation)."""

    kind: str
    a: float
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown distribution {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.a < 0 or self.b < 0 or not math.isfinite(self.a) or not math.isfinite(self.b):
            raise ValueError(f"distribution parameters must be finite and >= 0: {self}")
        if self.kind == "uniform" and self.b < self.a:
            raise ValueError(f"uniform range is low-high, got {self.a}-{self.b}")

    @classmethod
    def parse(cls, text: str) -> Distribution:
        """Parse ``kind:args`` (a bare number means fixed)."""
        kind, colon, args = text.strip().partition(":")
        if not colon:
            return cls("fixed", float(kind))
        kind = kind.lower()
        try:
            if kind == "uniform":
                low, _, high = args.partition("-")
                a, b = float(low), float(high)
            elif kind in {"normal", "lognormal"}:
                mean, _, spread = args.partition(",")
                a, b = float(mean), float(spread or 0)
            else:
                a, b = float(args), 0.0
        except ValueError:
            raise ValueError(f"cannot read distribution {text!r}") from None
        return cls(kind, a, b)

    def sample(self, rng: random.Random) -> float:
        """Draw one duration (never negative)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "exp":
            return rng.expovariate(1 / self.a) if self.a > 0 else 0.0
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "normal":
            return max(0.0, rng.gauss(self.a, self.b))
        if self.a <= 0:
            return 0.0
        sigma2 = math.log(1 + (self.b / self.a) ** 2)
        return rng.lognormvariate(math.log(self.a) - sigma2 / 2, math.sqrt(sigma2))

    @property
    def mean(self) -> float:
        """Return the distribution's mean."""
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "normal":
            return self.a  # truncation at 0 ignored: callers use sensible parameters
        return self.a


@dataclass(frozen=True, slots=True)
class NumberTraffic:
    """Callers of one dialled number."""

    number: str
    calls_per_hour: float
    ivr_choices: tuple[tuple[str, float], ...] = ()
    """(digits, weight): what callers press once answered (the IVR menu)."""
    ivr_delay: Distribution = Distribution("uniform", 1.0, 4.0)
    patience: Distribution | None = Distribution("exp", 90.0)
    """Time a caller waits for an agent before hanging up (None: forever)."""
    talk: Distribution | None = Distribution("exp", 180.0)
    """Caller hangs up this long after reaching an agent (None: leaves it to the agent)."""
    context: str = "public"
    caller_prefix: str = "555"

    def __post_init__(self) -> None:
        if not self.number:
            raise ValueError("a traffic number needs the digits callers dial")
        if self.calls_per_hour < 0 or not math.isfinite(self.calls_per_hour):
            raise ValueError(f"calls_per_hour must be >= 0, got {self.calls_per_hour}")
        if any(weight < 0 for _, weight in self.ivr_choices):
            raise ValueError("IVR choice weights must be >= 0")


@dataclass(frozen=True, slots=True)
class AgentTraffic:
    """The agents' phones: who is registered and how they behave when rung."""

    users: tuple[str, ...]
    answer_delay: tuple[float, float] = (1.0, 3.0)
    no_answer_probability: float = 0.0
    busy_probability: float = 0.0
    reject_probability: float = 0.0
    talk: tuple[float, float] | None = None
    wrap_up: tuple[float, float] | None = (5.0, 15.0)

    def __post_init__(self) -> None:
        total = self.no_answer_probability + self.busy_probability + self.reject_probability
        if not 0 <= total <= 1:
            raise ValueError("agent no-answer/busy/reject probabilities must sum to 0..1")


@dataclass(slots=True)
class NumberStats:
    """What happened to one number's callers."""

    offered: int = 0
    bridged: int = 0
    abandoned: int = 0
    completed: int = 0
    choices: Counter[str] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)


class TrafficGenerator:
    """Drives callers (and registers agents) on a switch, reproducibly from a seed."""

    def __init__(
        self,
        switch: Switch,
        callers: Callers,
        *,
        numbers: list[NumberTraffic],
        agents: AgentTraffic | None = None,
        seed: int = 0,
    ) -> None:
        self.sw = switch
        self.callers = callers
        self.numbers = numbers
        self.agents = agents
        self.rng = random.Random(seed)
        self.stats: dict[str, NumberStats] = {n.number: NumberStats() for n in numbers}
        self.timers: list[Timer] = []
        self.running = False
        self.sequence = 0

    def start(self) -> None:
        """Register the agents and schedule each number's first caller."""
        if self.agents is not None and self.sw.directory is not None:
            for user in self.agents.users:
                self.sw.register_phone(
                    AgentPhone(
                        user,
                        answer_delay=self.agents.answer_delay,
                        no_answer_probability=self.agents.no_answer_probability,
                        busy_probability=self.agents.busy_probability,
                        reject_probability=self.agents.reject_probability,
                        talk_seconds=self.agents.talk,
                        wrap_up_seconds=self.agents.wrap_up,
                    )
                )
        self.running = True
        for number in self.numbers:
            self._schedule(number)

    def stop(self) -> None:
        """Stop new arrivals (calls in progress carry on)."""
        self.running = False
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    def _schedule(self, number: NumberTraffic) -> None:
        if not self.running or number.calls_per_hour <= 0:
            return
        gap = self.rng.expovariate(number.calls_per_hour / 3600)
        self.timers.append(self.sw.scheduler.call_later(gap, lambda: self._arrive(number)))

    def _arrive(self, number: NumberTraffic) -> None:
        if not self.running:
            return
        self.sequence += 1
        stats = self.stats[number.number]
        stats.offered += 1
        script = self._script(number, stats)
        caller = f"{number.caller_prefix}{self.sequence:07d}"
        self.callers.dial(
            number.number,
            caller_number=caller,
            caller_name=f"Caller {self.sequence}",
            script=script,
            context=number.context,
        )
        self._schedule(number)

    def _script(self, number: NumberTraffic, stats: NumberStats) -> CallerScript:
        rng = self.rng
        dtmf: list[tuple[float, str]] = []
        if number.ivr_choices:
            choices = [c for c, _ in number.ivr_choices]
            weights = [w for _, w in number.ivr_choices]
            choice = rng.choices(choices, weights=weights)[0]
            stats.choices[choice] += 1
            dtmf.append((number.ivr_delay.sample(rng), choice))
        patience = number.patience.sample(rng) if number.patience else None
        talk = number.talk.sample(rng) if number.talk else None

        def done(cause: str, outcome: str) -> None:
            stats.causes[cause] += 1
            if outcome == "completed":
                stats.completed += 1
            elif outcome == "abandoned":
                stats.abandoned += 1

        def bridged() -> None:
            stats.bridged += 1

        return CallerScript(
            patience_seconds=patience,
            dtmf=dtmf,
            talk_seconds=talk,
            on_done=done,
            on_bridged=bridged,
        )
