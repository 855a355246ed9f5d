"""The ACD core's CPU per routed call in the issue-15 scenario, without a switch.

600 agents in one queue ``support`` (longest-idle-agent, tier level 1, wrap-up 0, ring timeout
10 s), the production core (``Acd`` with decision explanations on, as the service builds it),
driven through its public API with every step of a call as FreeSWITCH reports it: arrival,
offer, agent answer, bridge, caller hang-up, agent leg gone, agent free again.

- ``steady``: callers arrive at 20 calls/s in virtual time, each talks 3 s (about 60 agents
  busy), as in the side-by-side benchmark on the real switch;
- ``backlog``: more callers than agents (all 600 talking, 300 waiting); each hang-up frees an
  agent who takes the head of the line, so every arrival queues and every freed agent is served.

- ``steady_prepared``: ``steady`` with every step's commands also prepared for writing as the
  service does under its lock (``RoutingRuntime._prepare``: envelopes encoded into outbox rows,
  ledger statements, agent state rows), with no switch and no database: the per-call work of
  the runtime around the core that is not I/O.

Figures (one JSON line each, {"bench", "value", "unit"}): per scenario the core's CPU per whole
call (process CPU over the run divided by calls, µs) and the median / p99 of one arrival
(``call_arrived``: the decision and the offer, µs) and of one agent freed (the agent leg's
hang-up that returns them to the index and serves the next call, µs).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence

from cc_common.bus._memory import MemoryBroker, MemoryBus
from cc_common.db import Database, Outbox, OutboxRelay
from cc_routing.adapters import db as tables
from cc_routing.adapters.freeswitch import Dialplan
from cc_routing.core import Acd, AgentConfig, Destination, OfferCall, ParkedCall, QueueConfig, Tier
from cc_routing.core.commands import BridgeCall, Command
from cc_routing.runtime import RoutingRuntime

AGENTS = 600
QUEUE = "support"
RATE = 20.0
TALK = 3.0
CALLS = 20_000
BACKLOG = 300
NOW = 1_700_000_000.0


def emit(name: str, value: float, unit: str = "us") -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def build() -> Acd:
    """One queue, 600 agents logged in one after the other (distinct idle times)."""
    acd = Acd(rng=random.Random(15))
    acd.configure_queue(QueueConfig(QUEUE, ring_timeout_seconds=10.0, wrap_up_seconds=0.0), NOW)
    for number in range(AGENTS):
        agent_id = f"agent-{number:04d}"
        contact = "loopback/7303/default"
        tiers = {QUEUE: Tier(level=1, position=1)}
        acd.upsert_agent(AgentConfig(agent_id, contact, {}, tiers), NOW)
        acd.login(agent_id, NOW + number * 0.001)
    return acd


class Switch:
    """Plays FreeSWITCH's part at once: an offered agent leg answers, the bridge holds, and
    the caller later hangs up, the agent's leg following out of the bridge."""

    def __init__(self, acd: Acd, prepare: Callable[[Sequence[Command]], object] | None = None):
        self.acd = acd
        self.prepare = prepare
        self.talking: deque[tuple[float, str, str]] = deque()  # (bridged at, call, agent leg)
        self.frees: list[float] = []

    def take(self, out: list[Command], now: float) -> None:
        """Answer every offer in ``out`` and confirm its bridge (and those that follow)."""
        if self.prepare is not None:
            self.prepare(out)
        pending = deque(out)
        while pending:
            command = pending.popleft()
            if isinstance(command, OfferCall):
                pending.extend(self.step(self.acd.agent_answered(command.offer_id, now)))
            elif isinstance(command, BridgeCall):
                self.talking.append((now, command.call_id, command.offer_id))
                pending.extend(self.step(self.acd.call_bridged(command.call_id, now)))

    def step(self, out: list[Command]) -> list[Command]:
        """One more step of the core: prepared as the service would, if asked."""
        if self.prepare is not None:
            self.prepare(out)
        return out

    def hang_up_first(self, now: float) -> None:
        """The longest-talking caller hangs up; timing the agent's return to the floor."""
        _, call_id, leg = self.talking.popleft()
        self.take(self.acd.caller_hung_up(call_id, now), now)
        t0 = time.perf_counter_ns()
        out = self.acd.agent_hung_up(leg, now)
        self.frees.append((time.perf_counter_ns() - t0) / 1000)
        self.take(out, now)


def arrive(acd: Acd, switch: Switch, call_id: str, now: float, arrivals: list[float]) -> None:
    """A caller is parked for the queue; timing the core's decision and offer."""
    t0 = time.perf_counter_ns()
    out = acd.call_arrived(ParkedCall(call_id, QUEUE), now)
    arrivals.append((time.perf_counter_ns() - t0) / 1000)
    switch.take(out, now)


def preparer(acd: Acd) -> Callable[[Sequence[Command]], object]:
    """The service's preparation of a step for writing (no connection is ever opened)."""
    db = Database("postgresql+asyncpg://bench@127.0.0.1/none")
    outbox = Outbox(tables.kit.outbox)
    relay = OutboxRelay(db, MemoryBus(MemoryBroker()), outbox)
    runtime = RoutingRuntime(
        tenant="acme",
        acd=acd,
        db=db,
        outbox=outbox,
        relay=relay,
        dialplan=Dialplan("contact-center", "local_stream://moh", "cc-transfer-out"),
        gateway_template="sofia/gateway/carrier/{number}",
        fallback=Destination.parse("hangup"),
        clock=lambda: NOW,
    )
    return lambda commands: runtime._prepare(commands, None)


def steady(acd: Acd, name: str = "steady", *, prepared: bool = False) -> None:
    """Callers at RATE per second, each talking TALK seconds: most agents idle."""
    switch = Switch(acd, preparer(acd) if prepared else None)
    arrivals: list[float] = []
    now = NOW + 10
    started = time.process_time()
    for number in range(CALLS):
        now += 1 / RATE
        while switch.talking and switch.talking[0][0] + TALK <= now:
            switch.hang_up_first(switch.talking[0][0] + TALK)
        arrive(acd, switch, f"steady-{number}", now, arrivals)
    report(name, time.process_time() - started, arrivals, switch.frees)


def backlog(acd: Acd) -> None:
    """Every agent talking and BACKLOG callers waiting; each hang-up serves the head of the
    line and one more caller joins its end."""
    switch = Switch(acd)
    arrivals: list[float] = []
    now = NOW + 10
    for number in range(AGENTS + BACKLOG):
        now += 0.001
        arrive(acd, switch, f"fill-{number}", now, arrivals)
    arrivals.clear()
    started = time.process_time()
    for number in range(CALLS):
        now += 1 / RATE
        switch.hang_up_first(now)
        arrive(acd, switch, f"backlog-{number}", now, arrivals)
    report("backlog", time.process_time() - started, arrivals, switch.frees)


def report(name: str, cpu: float, arrivals: list[float], frees: list[float]) -> None:
    emit(f"routing_cycle_{name}_cpu_per_call", cpu / CALLS * 1e6)
    emit(f"routing_cycle_{name}_arrival_p50", statistics.median(arrivals))
    emit(f"routing_cycle_{name}_arrival_p99", percentile(arrivals, 0.99))
    emit(f"routing_cycle_{name}_agent_free_p50", statistics.median(frees))
    emit(f"routing_cycle_{name}_agent_free_p99", percentile(frees, 0.99))


def main() -> None:
    steady(build())
    backlog(build())
    steady(build(), "steady_prepared", prepared=True)


if __name__ == "__main__":
    main()
