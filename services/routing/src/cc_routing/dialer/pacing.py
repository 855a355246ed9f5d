"""How many customers to dial now: progressive and predictive pacing from measured behaviour.

Pure: the caller passes the time and the live state (free agents, how long each busy agent has
been busy, how long each dial has been ringing) and reports outcomes as they happen. See the
routing README ("Outbound pacing") for the algorithm and why it holds at low agent counts.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class DialMode(StrEnum):
    """How a campaign paces its calls."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """Limits and tuning of the predictive pacer; the defaults suit a 3 % abandon rule."""

    abandon_cap: float = 0.03
    """The rule: abandoned calls over live answers may never exceed this."""
    margin_sigmas: float = 1.0
    margin_prior_answers: int = 200
    """The controller aims under the cap by this many standard errors of the rolling rate."""
    connect_grace_seconds: float = 2.0
    """How long an answered customer may wait for an agent before the call counts abandoned."""
    min_risk: float = 0.002
    """Lowest per-dial risk the controller may set: practically progressive."""
    max_risk: float = 0.6
    start_risk: float = 0.05
    """Where the controller starts: cautious until answers have been measured."""
    gain: float = 0.15
    """Controller step (in log risk) per live answer, scaled by the miss from the target."""
    max_lines_per_agent: float = 8.0
    """Never more dials in flight than this many per staffed agent."""
    prior_dials: int = 30
    prior_live_rate: float = 0.35
    """Until enough dials are measured, assume this live-answer rate (high = few dials)."""
    prior_ring_seconds: float = 15.0
    prior_handle_seconds: float = 120.0
    samples: int = 3000
    """How many recent dials and handle times the estimates look at."""
    abandon_window_seconds: float = 30 * 86400.0
    """The rule's rolling window: abandons over live answers in the last 30 days."""
    busy_step_seconds: float = 5.0
    min_handle_samples: int = 500
    """Below this many finished calls, handle time is taken as memoryless (censoring bias)."""
    refresh_every: int = 100
    """Rebuild the lookup tables after this many new observations."""


@dataclass(slots=True)
class _Sorted:
    """A bounded window of samples with a sorted copy for conditional counts."""

    size: int
    recent: deque[tuple[float, bool]] = field(default_factory=deque)
    all_sorted: list[float] = field(default_factory=list)
    flagged_sorted: list[float] = field(default_factory=list)

    def add(self, value: float, flagged: bool) -> None:
        self.recent.append((value, flagged))
        bisect.insort(self.all_sorted, value)
        if flagged:
            bisect.insort(self.flagged_sorted, value)
        if len(self.recent) > self.size:
            old, old_flag = self.recent.popleft()
            del self.all_sorted[bisect.bisect_left(self.all_sorted, old)]
            if old_flag:
                del self.flagged_sorted[bisect.bisect_left(self.flagged_sorted, old)]

    def count_above(self, value: float, flagged: bool = False) -> int:
        """Samples strictly greater than ``value`` (only flagged ones if asked)."""
        data = self.flagged_sorted if flagged else self.all_sorted
        return len(data) - bisect.bisect_right(data, value)

    def mean(self, flagged: bool = False) -> float | None:
        data = self.flagged_sorted if flagged else self.all_sorted
        return sum(data) / len(data) if data else None


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@dataclass(frozen=True, slots=True)
class PacingState:
    """The live picture the pacer decides from, all times in seconds."""

    staffed_agents: int
    free_agents: int
    """Agents idle and not promised to a customer already answered."""
    busy_elapsed: Sequence[float] = ()
    """For each agent on a call or in wrap-up: seconds since the call was connected."""
    ringing_elapsed: Sequence[float] = ()
    """For each dial not yet answered: seconds since it was placed."""
    waiting_customers: int = 0
    """Live customers answered and waiting (within the grace) for an agent."""


class Pacer:
    """Decides dials for one campaign; learns answer rate, ring time and handle time as it goes."""

    def __init__(self, mode: DialMode, settings: PacingSettings | None = None) -> None:
        self.mode = mode
        self.settings = settings or PacingSettings()
        self.risk = self.settings.start_risk
        self._rings = _Sorted(self.settings.samples)
        self._handles = _Sorted(self.settings.samples)
        self._answers: deque[tuple[float, bool]] = deque()
        self._abandons_in_window = 0
        self._since_refresh = self.settings.refresh_every
        self._exposure = 0.0
        self._live_by_ring: list[float] = []
        self._free_by_elapsed: list[float] = []
        self._live_rate = self.settings.prior_live_rate
        self._horizon = self.settings.prior_ring_seconds + self.settings.connect_grace_seconds
        self.live_answers = 0
        self.abandoned = 0

    # --- what happened ------------------------------------------------------------------------

    def dial_ended(self, ring_seconds: float, live: bool) -> None:
        """A dial was answered (live, or by a machine) or failed after ``ring_seconds``."""
        self._rings.add(max(0.0, ring_seconds), live)
        self._observed()

    def call_handled(self, busy_seconds: float) -> None:
        """An agent became free again ``busy_seconds`` after a customer was connected."""
        self._handles.add(max(0.0, busy_seconds), False)
        self._observed()

    def live_answer_settled(self, now: float, abandoned: bool) -> None:
        """A live answer got an agent in time (False) or was abandoned (True): the feedback."""
        self.live_answers += 1
        self.abandoned += abandoned
        self._answers.append((now, abandoned))
        self._abandons_in_window += abandoned
        while self._answers and self._answers[0][0] < now - self.settings.abandon_window_seconds:
            self._abandons_in_window -= self._answers.popleft()[1]
        if self.rolling_abandon_rate() > self.settings.abandon_cap:
            return  # guarded (see _predictive): learning now would wind the controller up
        miss = self.abandon_target() - (1.0 if abandoned else 0.0)
        step = self.settings.gain * miss
        self.risk = min(
            self.settings.max_risk, max(self.settings.min_risk, self.risk * math.exp(step))
        )

    def rolling_abandon_rate(self) -> float:
        """Abandons over live answers in the rule's window (a few answers at target assumed)."""
        prior, target = 50, self.abandon_target()
        return (self._abandons_in_window + prior * target) / (len(self._answers) + prior)

    def window_abandon_rate(self) -> float:
        """Abandons over live answers in the rule's window, as an auditor would count them."""
        return self._abandons_in_window / len(self._answers) if self._answers else 0.0

    def abandon_target(self) -> float:
        """The rate aimed at: under the cap by a statistical margin that shrinks as answers grow.

        With few answers in the window a few unlucky abandons move the rate a lot, so a small
        campaign aims lower; a large one may come closer to the cap.
        """
        s = self.settings
        answers = len(self._answers) + s.margin_prior_answers
        margin = s.margin_sigmas * math.sqrt(s.abandon_cap * (1.0 - s.abandon_cap) / answers)
        return max(s.abandon_cap / 3, s.abandon_cap - margin)

    # --- what to do ---------------------------------------------------------------------------

    def dials_to_place(self, state: PacingState) -> int:
        """How many new dials to place now."""
        if self.mode is not DialMode.PREDICTIVE:  # one dial per free agent: never an abandon
            in_flight = len(state.ringing_elapsed) + state.waiting_customers
            return max(0, state.free_agents - in_flight)
        return self._predictive(state)

    def _predictive(self, state: PacingState) -> int:
        if state.staffed_agents == 0:
            return 0
        self._exposure = sum(state.busy_elapsed)
        self._refresh()
        s = self.settings
        limit = s.min_risk if self.rolling_abandon_rate() > s.abandon_cap else self.risk
        live_by_ring, free_by_elapsed = self._live_by_ring, self._free_by_elapsed
        last_ring, last_busy = len(live_by_ring) - 1, len(free_by_elapsed) - 1
        # demand: customers waiting and the live answers still to come from the dials ringing
        demand, var_demand = float(state.waiting_customers), 0.0
        for elapsed in state.ringing_elapsed:
            q = live_by_ring[min(int(elapsed), last_ring)]
            demand += q
            var_demand += q * (1.0 - q)
        # supply: agents free now and those who will be free within the horizon
        supply, var_supply = float(state.free_agents), 0.0
        step = s.busy_step_seconds
        for elapsed in state.busy_elapsed:
            f = free_by_elapsed[min(int(elapsed / step), last_busy)]
            supply += f
            var_supply += f * (1.0 - f)
        q0 = live_by_ring[0]
        max_lines = s.max_lines_per_agent * state.staffed_agents - len(state.ringing_elapsed)
        placed = 0
        while placed < max_lines:
            mean = demand + placed * q0 - supply
            sd = math.sqrt(var_demand + placed * q0 * (1.0 - q0) + var_supply)
            risk = (1.0 if mean > -0.5 else 0.0) if sd == 0.0 else _normal_cdf((mean + 0.5) / sd)
            if risk > limit:
                break
            placed += 1
        return placed

    # --- estimates ----------------------------------------------------------------------------

    def estimates(self) -> dict[str, float]:
        """What the pacer believes now (for explanations and the simulation's report)."""
        self._refresh()
        return {
            "live_rate": self._live_rate,
            "horizon_seconds": self._horizon,
            "risk": self.risk,
            "rolling_abandon_rate": self.rolling_abandon_rate(),
            "abandon_target": self.abandon_target(),
        }

    def _observed(self) -> None:
        self._since_refresh += 1

    def _refresh(self) -> None:
        if self._since_refresh < self.settings.refresh_every:
            return
        self._since_refresh = 0
        s = self.settings
        rings = self._rings
        dials, lives = len(rings.all_sorted), len(rings.flagged_sorted)
        self._live_rate = (lives + s.prior_dials * s.prior_live_rate) / (dials + s.prior_dials)
        live_ring = rings.mean(flagged=True)
        ring = s.prior_ring_seconds if live_ring is None else live_ring
        self._horizon = ring + s.connect_grace_seconds
        self._live_by_ring = self._live_table(dials)
        self._free_by_elapsed = self._free_table()

    def _live_table(self, dials: int) -> list[float]:
        """Chance that a dial still ringing after r seconds ends in a live answer, r = 0, 1, ..."""
        s, rings = self.settings, self._rings
        longest = int(rings.all_sorted[-1]) + 1 if rings.all_sorted else 0
        weight = max(1.0, s.prior_dials * (1.0 - dials / s.samples))
        table = []
        for r in range(longest + 1):
            edge = r - 1e-9 if r else -1.0
            still = rings.count_above(edge)
            live = rings.count_above(edge, flagged=True)
            table.append((live + weight * self._live_rate) / (still + weight))
        return table

    def _free_table(self) -> list[float]:
        """Chance that an agent busy for e seconds is free within the horizon, by steps of e."""
        s, handles, horizon = self.settings, self._handles, self._horizon
        done = handles.all_sorted
        # Censored estimate: calls still going count their time so far (short calls end first).
        weight = 20
        mean = (sum(done) + self._exposure + weight * s.prior_handle_seconds) / (len(done) + weight)
        memoryless = 1.0 - math.exp(-horizon / mean)
        if len(done) < s.min_handle_samples:
            return [memoryless]
        table = []
        step = s.busy_step_seconds
        for index in range(int(done[-1] / step) + 2):
            e = index * step + step / 2
            beyond = handles.count_above(e)
            if beyond < 20:  # too few calls this long to say: assume no memory
                table.append(memoryless)
                break
            table.append((beyond - handles.count_above(e + horizon)) / beyond)
        return table
