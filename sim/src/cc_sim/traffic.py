"""A traffic generator: Poisson callers per number, IVR choices, patience, talk and wrap-up.

A number's arrivals follow either a flat ``calls_per_hour`` or a :class:`DayProfile` (expected
calls per 15-minute interval of the day, so the morning peak and the lunch dip come when they
do). Callers may ask for a callback after waiting a while (``callback_share``); the generator
tells ``on_callback`` (the platform posts it to routing, as the IVR's callback offer would).
:class:`Workforce` plays the agents' side of the day: shifts, breaks with reason codes, logout.

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

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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


INTERVAL_SECONDS = 900
INTERVALS_PER_DAY = 96
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class DayProfile:
    """Expected calls in each 15-minute interval of a day (index 0 is 00:00-00:15)."""

    calls: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.calls) != INTERVALS_PER_DAY:
            raise ValueError(f"a day profile has {INTERVALS_PER_DAY} intervals: {len(self.calls)}")
        if any(c < 0 or not math.isfinite(c) for c in self.calls):
            raise ValueError("expected calls per interval must be finite and >= 0")

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]], calls_per_day: float) -> DayProfile:
        """Shape a day from (minute of day, relative volume) points, linear in between, none
        outside the first and last point, scaled to ``calls_per_day``."""
        ordered = sorted(points)
        if len(ordered) < 2:
            raise ValueError("a traffic profile needs at least two points")
        weights = []
        for index in range(INTERVALS_PER_DAY):
            middle = index * 15 + 7.5
            weights.append(_interpolate(ordered, middle))
        total = sum(weights)
        if total <= 0:
            raise ValueError("a traffic profile needs some volume")
        return cls(tuple(calls_per_day * w / total for w in weights))

    def rate(self, seconds_of_day: float) -> float:
        """Return the arrival rate (calls per second) at this moment of the day."""
        index = int(seconds_of_day % DAY_SECONDS // INTERVAL_SECONDS)
        return self.calls[index] / INTERVAL_SECONDS

    def next_arrival(self, now: float, midnight: float, rng: random.Random) -> float | None:
        """Draw the next arrival after ``now`` (epoch seconds) of a Poisson process whose rate
        changes each interval; None if the profile has no calls at all."""
        if not any(self.calls):
            return None
        t = now
        while True:
            into_day = t - midnight
            rate = self.rate(into_day)
            end = midnight + (into_day // INTERVAL_SECONDS + 1) * INTERVAL_SECONDS
            if rate > 0:
                at = t + rng.expovariate(rate)
                if at < end:
                    return at
            t = end  # memoryless: draw again from the next interval's start


def _interpolate(points: Sequence[tuple[float, float]], minute: float) -> float:
    if minute < points[0][0] or minute > points[-1][0]:
        return 0.0
    for (m0, w0), (m1, w1) in itertools.pairwise(points):
        if m0 <= minute <= m1:
            return w0 if m1 == m0 else w0 + (w1 - w0) * (minute - m0) / (m1 - m0)
    return 0.0


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
    profile: DayProfile | None = None
    """Arrivals by interval of the day (replaces ``calls_per_hour``)."""
    callback_share: float = 0.0
    """Share of callers who ask for a callback if still waiting after ``callback_after``."""
    callback_after: Distribution = Distribution("uniform", 45.0, 120.0)

    def __post_init__(self) -> None:
        if not self.number:
            raise ValueError("a traffic number needs the digits callers dial")
        if self.calls_per_hour < 0 or not math.isfinite(self.calls_per_hour):
            raise ValueError(f"calls_per_hour must be >= 0, got {self.calls_per_hour}")
        if any(weight < 0 for _, weight in self.ivr_choices):
            raise ValueError("IVR choice weights must be >= 0")
        if not 0 <= self.callback_share <= 1:
            raise ValueError(f"callback_share must be 0..1, got {self.callback_share}")


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
    callbacks: int = 0
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
        midnight: float = 0.0,
        on_callback: Callable[[str, str], None] | None = None,
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
        self.midnight = midnight
        """Epoch seconds of a midnight of the centre's day (profiles are by time of day)."""
        self.on_callback = on_callback
        """Told (caller's channel uuid, caller's number) when a caller asks for a callback."""

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
        if not self.running:
            return
        if number.profile is not None:
            now = self.sw.now_us() / 1_000_000
            at = number.profile.next_arrival(now, self.midnight, self.rng)
            if at is None:
                return
            gap = at - now
        elif number.calls_per_hour > 0:
            gap = self.rng.expovariate(number.calls_per_hour / 3600)
        else:
            return
        self.timers.append(self.sw.scheduler.call_later(gap, lambda: self._arrive(number)))

    def _arrive(self, number: NumberTraffic) -> None:
        if not self.running:
            return
        self.sequence += 1
        stats = self.stats[number.number]
        stats.offered += 1
        script = self._script(number, stats)
        caller = f"{number.caller_prefix}{self.sequence:07d}"
        uuid = self.callers.dial(
            number.number,
            caller_number=caller,
            caller_name=f"Caller {self.sequence}",
            script=script,
            context=number.context,
        )
        if number.callback_share and self.rng.random() < number.callback_share:
            after = number.callback_after.sample(self.rng)
            self.sw.scheduler.call_later(after, lambda: self._ask_callback(uuid, caller, stats))
        self._schedule(number)

    def _ask_callback(self, uuid: str, caller: str, stats: NumberStats) -> None:
        """A caller still waiting for an agent asks to be called back instead."""
        state = self.callers.active.get(uuid)
        if state is None or state.bridged or state.session.channel.is_down:
            return
        stats.callbacks += 1
        if self.on_callback is not None:
            self.on_callback(uuid, caller)

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


# --- the agents' day ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakPlan:
    """A break in a shift: when (minute of day), how long, and its reason code."""

    at_minute: float
    minutes: float
    reason: str


@dataclass(frozen=True, slots=True)
class ShiftPlan:
    """One agent's working day: log in, breaks, log out (minutes of the day)."""

    agent_id: str
    start_minute: float
    end_minute: float
    breaks: tuple[BreakPlan, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= 24 * 60:
            raise ValueError(f"shift of {self.agent_id}: start must come before end, within a day")
        for pause in self.breaks:
            if not self.start_minute <= pause.at_minute < self.end_minute or pause.minutes <= 0:
                raise ValueError(f"shift of {self.agent_id}: break at {pause.at_minute} is outside")


class Desk(Protocol):
    """What an agent does at their desk (the platform sends it to routing's API)."""

    def login(self, agent_id: str) -> None:
        """Start the shift, available."""

    def logout(self, agent_id: str) -> None:
        """End the shift."""

    def take_break(self, agent_id: str, reason: str) -> None:
        """Go on break with a reason code."""

    def back(self, agent_id: str) -> None:
        """Come back from a break, available."""


@dataclass(frozen=True, slots=True)
class DeskAction:
    """One thing an agent does at a moment of the day (epoch seconds)."""

    at: float
    agent_id: str
    action: str
    reason: str | None = None


def plan_day(
    shifts: Sequence[ShiftPlan], midnight: float, rng: random.Random, jitter_minutes: float = 3.0
) -> list[DeskAction]:
    """Return the day's desk actions in time order; people are a few minutes early or late."""

    def near(minute: float) -> float:
        return midnight + 60 * (minute + rng.uniform(-jitter_minutes, jitter_minutes))

    actions: list[DeskAction] = []
    for shift in shifts:
        login, logout = near(shift.start_minute), near(shift.end_minute)
        actions.append(DeskAction(login, shift.agent_id, "login"))
        for pause in shift.breaks:
            start = max(login + 60, near(pause.at_minute))
            end = start + 60 * pause.minutes * rng.uniform(0.9, 1.2)
            if end < logout - 60:
                actions.append(DeskAction(start, shift.agent_id, "break", pause.reason))
                actions.append(DeskAction(end, shift.agent_id, "back"))
        actions.append(DeskAction(max(logout, login + 120), shift.agent_id, "logout"))
    return sorted(actions, key=lambda a: a.at)


class Workforce:
    """Agents working their shifts day after day on the switch's clock, through a desk."""

    def __init__(
        self,
        switch: Switch,
        shifts: Sequence[ShiftPlan],
        desk: Desk,
        *,
        midnight: float,
        seed: int = 0,
    ) -> None:
        self.sw = switch
        self.shifts = tuple(shifts)
        self.desk = desk
        self.midnight = midnight
        self.rng = random.Random(seed)
        self.timers: list[Timer] = []
        self.done: list[DeskAction] = []

    def start(self) -> None:
        """Plan today from now on (a shift already under way logs in at once), then each day."""
        now = self.sw.now_us() / 1_000_000
        day = self.midnight + (now - self.midnight) // DAY_SECONDS * DAY_SECONDS
        self._plan(day, now)

    def stop(self) -> None:
        """Cancel everything not yet done."""
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    def _plan(self, day: float, now: float) -> None:
        self.timers.clear()
        actions = plan_day(self.shifts, day, self.rng)
        ongoing = {a.agent_id for a in actions if a.action == "login" and a.at <= now}
        for action in actions:
            if action.at > now:
                self._at(action.at - now, action)
        for agent_id in sorted(ongoing):
            logout = next(a.at for a in actions if a.agent_id == agent_id and a.action == "logout")
            if logout > now:
                self._at(0.0, DeskAction(now, agent_id, "login"))
        next_day = day + DAY_SECONDS
        self.timers.append(
            self.sw.scheduler.call_later(next_day - now, lambda: self._plan(next_day, next_day))
        )

    def _at(self, delay: float, action: DeskAction) -> None:
        self.timers.append(self.sw.scheduler.call_later(delay, lambda: self._do(action)))

    def _do(self, action: DeskAction) -> None:
        self.done.append(action)
        if action.action == "login":
            self.desk.login(action.agent_id)
        elif action.action == "logout":
            self.desk.logout(action.agent_id)
        elif action.action == "break":
            self.desk.take_break(action.agent_id, action.reason or "break")
        else:
            self.desk.back(action.agent_id)
