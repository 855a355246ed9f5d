"""Virtual-time simulation of the outbound dialer's pacing against simulated customers.

Staffed agents, a list that never runs dry, customers who answer with a given probability after
a random ring (some by machine), busy lines and no-answer timeouts; agents talk for a random
handle time (plus wrap-up). The pacer (:mod:`cc_routing.dialer.pacing`) is asked after every
event and every second how many to dial. A live answer with no agent free waits at most the
grace (2 s); past it the customer hears the identification message and the call is abandoned.
Run::

    python -m cc_routing.dialer_simulate --mode predictive --agents 25 \
        --answer-probability 0.2 --aht 120 --hours 8 --seed 1 \
        [--ring-time uniform:3,15] [--handle-time exp:120] [--machine-share 0.1]

and one JSON object is printed: occupancy, abandon_rate (abandons over live answers), dials,
live_answers, abandoned, agent_idle_seconds and more.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cc_routing.dialer.pacing import DialMode, Pacer, PacingSettings, PacingState

Sampler = Callable[[random.Random], float]


def parse_distribution(spec: str) -> Sampler:
    """``exp:MEAN``, ``fixed:V``, ``uniform:LO,HI``, ``lognormal:MEAN,SIGMA``, ``gamma:MEAN,K``."""
    kind, _, args = spec.partition(":")
    try:
        values = [float(part) for part in args.split(",")] if args else []
    except ValueError:
        raise ValueError(f"bad numbers in distribution {spec!r}") from None
    if kind == "exp" and len(values) == 1 and values[0] > 0:
        mean = values[0]
        return lambda rng: rng.expovariate(1.0 / mean)
    if kind == "fixed" and len(values) == 1 and values[0] >= 0:
        value = values[0]
        return lambda rng: value
    if kind == "uniform" and len(values) == 2 and 0 <= values[0] <= values[1]:
        lo, hi = values
        return lambda rng: rng.uniform(lo, hi)
    if kind == "lognormal" and len(values) == 2 and values[0] > 0 and values[1] >= 0:
        mean, sigma = values
        mu = math.log(mean) - sigma * sigma / 2
        return lambda rng: rng.lognormvariate(mu, sigma)
    if kind == "gamma" and len(values) == 2 and values[0] > 0 and values[1] > 0:
        mean, shape = values
        return lambda rng: rng.gammavariate(shape, mean / shape)
    raise ValueError(
        f"unknown distribution {spec!r}: use exp:MEAN, fixed:V, uniform:LO,HI, "
        "lognormal:MEAN,SIGMA or gamma:MEAN,SHAPE"
    )


@dataclass(frozen=True, slots=True)
class DialerParams:
    """One run's inputs."""

    mode: DialMode = DialMode.PREDICTIVE
    agents: int = 25
    answer_probability: float = 0.2
    """Chance a dial is answered (by a person or a machine)."""
    aht_seconds: float = 120.0
    hours: float = 8.0
    seed: int = 1
    ring_time: str = "uniform:3,15"
    """Ring time before an answer."""
    handle_time: str | None = None
    """Talk time distribution; default exponential with mean ``aht_seconds``."""
    machine_share: float = 0.0
    """Share of answers that are answering machines (detected, no agent needed)."""
    machine_detect_seconds: float = 3.0
    busy_share: float = 0.1
    """Share of unanswered dials that are busy (or fail) quickly instead of ringing out."""
    busy_seconds: float = 3.0
    no_answer_timeout: float = 30.0
    wrap_up_seconds: float = 0.0
    grace_seconds: float = 2.0
    tick_seconds: float = 1.0


@dataclass(slots=True)
class DialerReport:
    """What a run measured."""

    mode: str
    agents: int
    hours: float
    occupancy: float
    abandon_rate: float
    dials: int
    live_answers: int
    abandoned: int
    machine_answers: int
    agent_idle_seconds: float
    connected: int
    mean_connect_wait_seconds: float
    max_connect_wait_seconds: float
    max_rolling_abandon_rate: float
    dials_per_live_answer: float


_ANSWER, _FAILED, _AGENT_FREE, _GRACE_END, _TICK = range(5)


class DialerSimulation:
    """One run; see :func:`simulate_dialer`."""

    def __init__(self, params: DialerParams) -> None:
        if params.agents < 1:
            raise ValueError("at least one agent")
        if not 0 < params.answer_probability <= 1:
            raise ValueError("answer probability must be in (0, 1]")
        if not 0 <= params.machine_share < 1:
            raise ValueError("machine share must be in [0, 1)")
        self.p = params
        self.rng = random.Random(params.seed)
        self.ring = parse_distribution(params.ring_time)
        self.handle = parse_distribution(params.handle_time or f"exp:{params.aht_seconds}")
        self.pacer = Pacer(params.mode, PacingSettings(connect_grace_seconds=params.grace_seconds))
        self.end = params.hours * 3600.0
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.now = 0.0
        self.free = params.agents
        self.busy_since: dict[int, float] = {}
        self.ringing: dict[int, float] = {}
        self.waiting: deque[tuple[int, float]] = deque()
        self.settled: set[int] = set()
        self.next_id = 0
        self.dials = self.live = self.abandoned = self.machines = self.connected = 0
        self.busy_area = 0.0
        self.connect_wait = 0.0
        self.max_wait = 0.0
        self.max_rolling = 0.0

    def _schedule(self, at: float, kind: int, ident: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, ident))

    def run(self) -> DialerReport:
        """Run to the end of the shift and report."""
        self._schedule(0.0, _TICK, 0)
        while self.heap:
            at, _seq, kind, ident = heapq.heappop(self.heap)
            if at > self.end:
                break
            self.now = at
            if kind == _TICK:
                self._schedule(at + self.p.tick_seconds, _TICK, 0)
            elif kind == _ANSWER:
                self._answered(ident)
                continue  # an answer only ever lowers the need: decide at the next tick
            elif kind == _FAILED:
                self._failed(ident)
                continue
            elif kind == _AGENT_FREE:
                self._agent_free(ident)
            else:
                self._grace_over(ident)
            self._pace()
        return self._report()

    def _pace(self) -> None:
        state = PacingState(
            staffed_agents=self.p.agents,
            free_agents=self.free,
            busy_elapsed=[self.now - since for since in self.busy_since.values()],
            ringing_elapsed=[self.now - since for since in self.ringing.values()],
            waiting_customers=len(self.waiting),
        )
        for _ in range(self.pacer.dials_to_place(state)):
            self._dial()

    def _dial(self) -> None:
        p, rng = self.p, self.rng
        call = self.next_id
        self.next_id += 1
        self.dials += 1
        self.ringing[call] = self.now
        if rng.random() < p.answer_probability:
            self._schedule(self.now + self.ring(rng), _ANSWER, call)
        elif rng.random() < p.busy_share:
            self._schedule(self.now + p.busy_seconds, _FAILED, call)
        else:
            self._schedule(self.now + p.no_answer_timeout, _FAILED, call)

    def _failed(self, call: int) -> None:
        self.pacer.dial_ended(self.now - self.ringing.pop(call), live=False)

    def _answered(self, call: int) -> None:
        rang = self.now - self.ringing.pop(call)
        if self.rng.random() < self.p.machine_share:
            self.machines += 1
            self.pacer.dial_ended(rang + self.p.machine_detect_seconds, live=False)
            return
        self.live += 1
        self.pacer.dial_ended(rang, live=True)
        if self.free > 0:
            self._connect(call, 0.0)
        else:
            self.waiting.append((call, self.now))
            self._schedule(self.now + self.p.grace_seconds, _GRACE_END, call)

    def _connect(self, call: int, waited: float) -> None:
        self.free -= 1
        self.connected += 1
        self.connect_wait += waited
        self.max_wait = max(self.max_wait, waited)
        self.settled.add(call)
        self.pacer.live_answer_settled(self.now, abandoned=False)
        self._track_rolling()
        self.busy_since[call] = self.now
        busy = self.handle(self.rng) + self.p.wrap_up_seconds
        self._schedule(self.now + busy, _AGENT_FREE, call)

    def _agent_free(self, call: int) -> None:
        since = self.busy_since.pop(call)
        self._add_busy(since, self.now)
        self.pacer.call_handled(self.now - since)
        self.free += 1
        while self.waiting:
            waiting, answered_at = self.waiting.popleft()
            if waiting not in self.settled:
                self._connect(waiting, self.now - answered_at)
                return

    def _grace_over(self, call: int) -> None:
        if call in self.settled:
            self.settled.discard(call)
            return
        self.settled.add(call)  # the identification message plays; the call is abandoned
        self.waiting = deque(item for item in self.waiting if item[0] != call)
        self.abandoned += 1
        self.pacer.live_answer_settled(self.now, abandoned=True)
        self._track_rolling()

    def _track_rolling(self) -> None:
        if self.pacer.live_answers >= 500:  # the rule's rate once it means something
            self.max_rolling = max(self.max_rolling, self.pacer.window_abandon_rate())

    def _add_busy(self, start: float, end: float) -> None:
        self.busy_area += max(0.0, min(end, self.end) - start)

    def _report(self) -> DialerReport:
        for since in self.busy_since.values():
            self._add_busy(since, self.end)
        staffed = self.p.agents * self.end
        live = self.live - sum(1 for _c, at in self.waiting if at + self.p.grace_seconds > self.end)
        return DialerReport(
            mode=self.p.mode.value,
            agents=self.p.agents,
            hours=self.p.hours,
            occupancy=round(self.busy_area / staffed, 4),
            abandon_rate=round(self.abandoned / live, 4) if live else 0.0,
            dials=self.dials,
            live_answers=live,
            abandoned=self.abandoned,
            machine_answers=self.machines,
            agent_idle_seconds=round(staffed - self.busy_area, 1),
            connected=self.connected,
            mean_connect_wait_seconds=round(self.connect_wait / max(1, self.connected), 3),
            max_connect_wait_seconds=round(self.max_wait, 3),
            max_rolling_abandon_rate=round(self.max_rolling, 4),
            dials_per_live_answer=round(self.dials / live, 2) if live else 0.0,
        )


def simulate_dialer(params: DialerParams) -> DialerReport:
    """Run one seeded shift in virtual time."""
    return DialerSimulation(params).run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["predictive", "progressive"], default="predictive")
    parser.add_argument("--agents", type=int, default=25)
    parser.add_argument("--answer-probability", type=float, default=0.2)
    parser.add_argument("--aht", type=float, default=120.0, help="mean handle time, seconds")
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ring-time", default="uniform:3,15", help="ring before an answer")
    parser.add_argument("--handle-time", default=None, help="talk time, default exp:AHT")
    parser.add_argument("--machine-share", type=float, default=0.0)
    parser.add_argument("--busy-share", type=float, default=0.1)
    parser.add_argument("--no-answer-timeout", type=float, default=30.0)
    parser.add_argument("--wrap-up", type=float, default=0.0, help="seconds after each call")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print one JSON object with the run's figures."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        params = DialerParams(
            mode=DialMode(args.mode),
            agents=args.agents,
            answer_probability=args.answer_probability,
            aht_seconds=args.aht,
            hours=args.hours,
            seed=args.seed,
            ring_time=args.ring_time,
            handle_time=args.handle_time,
            machine_share=args.machine_share,
            busy_share=args.busy_share,
            no_answer_timeout=args.no_answer_timeout,
            wrap_up_seconds=args.wrap_up,
        )
        report = simulate_dialer(params)
    except ValueError as exc:
        parser.error(str(exc))
    result: dict[str, Any] = asdict(report)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
