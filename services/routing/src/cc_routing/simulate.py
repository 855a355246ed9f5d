"""Virtual-time simulation of the ACD core, to hold it against Erlang C and Erlang A.

Poisson arrivals, exponential handle times, optional exponential patience, one FIFO queue served
by identical agents who answer at once. The core is driven exactly as the adapters drive it, and
the figures are computed from the events it publishes (as the metrics service would), over the
calls after the warm-up. Run::

    python -m cc_routing.simulate --arrivals-per-hour 200 --aht 180 --agents 14 --threshold 20 \
        --calls 100000 --warmup 2000 --seed 1 [--patience 120] [--events-out run.jsonl]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from cc_common.erlang import erlang_a_metrics, erlang_c_metrics
from cc_proto.events import (
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallOffered,
)
from cc_routing.core import (
    Acd,
    AgentConfig,
    BridgeCall,
    CancelOffer,
    Command,
    OfferCall,
    PublishEvent,
    QueueConfig,
    Tier,
)
from cc_routing.core.calls import ParkedCall

QUEUE = "sim"
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
_BUSY = frozenset({AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})
_ARRIVAL, _HANGUP, _ABANDON = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SimulationParams:
    """One simulation run's inputs."""

    arrivals_per_hour: float
    aht_seconds: float
    agents: int
    threshold_seconds: float
    calls: int
    warmup: int
    seed: int
    patience_seconds: float | None = None
    short_abandon_seconds: float = 5.0
    start: float = DEFAULT_START
    tenant: str = "sim"
    explain: bool = True


@dataclass(slots=True)
class _Tally:
    """KPIs gathered from the published events, for calls after the warm-up."""

    threshold: float
    short_abandon: float
    measured: dict[str, bool] = field(default_factory=dict)
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    wait_answered: float = 0.0
    abandoned: int = 0
    short_abandons: int = 0
    abandoned_within: int = 0
    wait_abandoned: float = 0.0
    busy: int = 0
    busy_area: float = 0.0
    last_change: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)
    events: int = 0

    def observe(self, command: PublishEvent) -> None:
        """Fold one published event into the tally."""
        self.events += 1
        data = command.data
        kind = type(data)
        if kind is AgentStateChanged:
            self._agent_changed(command.at, data)  # type: ignore[arg-type]
        elif kind is CallAnswered:
            assert isinstance(data, CallAnswered)
            if self.measured.pop(command.call_id or "", False):
                self.answered += 1
                self.wait_answered += data.wait_seconds
                self.answered_within += data.wait_seconds <= self.threshold
        elif kind is CallAbandoned:
            assert isinstance(data, CallAbandoned)
            if self.measured.pop(command.call_id or "", False):
                self.abandoned += 1
                self.wait_abandoned += data.wait_seconds
                self.short_abandons += data.wait_seconds < self.short_abandon
                self.abandoned_within += data.wait_seconds <= self.threshold
        elif kind is CallOffered and command.call_id in self.measured:
            self.offered += 1

    def _agent_changed(self, at: float, data: AgentStateChanged) -> None:
        was, now_busy = data.from_state in _BUSY, data.to_state in _BUSY
        if was == now_busy:
            return
        self._integrate(at)
        self.busy += 1 if now_busy else -1

    def _integrate(self, at: float) -> None:
        start, end = self.window
        lo, hi = max(self.last_change, start), min(at, end)
        if hi > lo:
            self.busy_area += self.busy * (hi - lo)
        self.last_change = at


class Simulation:
    """Drives one :class:`Acd` through a run; see :func:`simulate`."""

    def __init__(self, params: SimulationParams, events_out: IO[str] | None = None) -> None:
        self.params = params
        self.rng = random.Random(params.seed)
        self.id_rng = random.Random(f"ids-{params.seed}")
        self.acd = Acd(rng=random.Random(f"acd-{params.seed}"), explain=params.explain)
        self.tally = _Tally(params.threshold_seconds, params.short_abandon_seconds)
        self.events_out = events_out
        self.heap: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.answered: set[str] = set()
        self.agent_legs: dict[str, str] = {}
        """Answered call -> the agent leg it is bridged to."""
        self.now = params.start

    def _schedule(self, at: float, kind: int, call_id: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, call_id))

    def _carry_out(self, commands: list[Command]) -> None:
        """Act as FreeSWITCH and the agents would: answer offers at once, talk, hang up."""
        pending = list(commands)
        while pending:
            batch, pending = pending, []
            for command in batch:
                kind = type(command)
                if kind is PublishEvent:
                    assert isinstance(command, PublishEvent)
                    self.tally.observe(command)
                    if self.events_out is not None:
                        self._write(command)
                elif kind is OfferCall:
                    assert isinstance(command, OfferCall)
                    pending.extend(self.acd.agent_answered(command.offer_id, self.now))
                elif kind is CancelOffer:  # the leg is gone at once
                    assert isinstance(command, CancelOffer)
                    cause = "ORIGINATOR_CANCEL"
                    pending.extend(self.acd.agent_hung_up(command.offer_id, self.now, cause=cause))
                elif kind is BridgeCall:
                    assert isinstance(command, BridgeCall)
                    pending.extend(self.acd.call_bridged(command.call_id, self.now))
                    self.answered.add(command.call_id)
                    self.agent_legs[command.call_id] = command.offer_id
                    talk = self.rng.expovariate(1.0 / self.params.aht_seconds)
                    self._schedule(self.now + talk, _HANGUP, command.call_id)

    def _write(self, command: PublishEvent) -> None:
        envelope = command.envelope(tenant=self.params.tenant)
        event_id = uuid.UUID(int=self.id_rng.getrandbits(128), version=4)
        line = envelope.model_copy(update={"id": event_id}).to_json().decode()
        assert self.events_out is not None
        self.events_out.write(line + "\n")

    def setup(self) -> None:
        """Create the queue and log every agent in at the start."""
        p = self.params
        self._carry_out(
            self.acd.configure_queue(
                QueueConfig(
                    QUEUE,
                    ring_timeout_seconds=60.0,
                    service_level_threshold_seconds=p.threshold_seconds,
                    short_abandon_seconds=p.short_abandon_seconds,
                    expected_handle_seconds=p.aht_seconds,
                ),
                self.now,
            )
        )
        for number in range(1, p.agents + 1):
            agent_id = f"agent-{number:04d}"
            config = AgentConfig(
                agent_id, f"loopback/{7000 + number}/default", tiers={QUEUE: Tier(position=number)}
            )
            self._carry_out(self.acd.upsert_agent(config, self.now))
            self._carry_out(self.acd.login(agent_id, self.now))

    def run(self) -> dict[str, Any]:
        """Run every arrival, let the queue drain, and return the figures."""
        p = self.params
        self.setup()
        total = p.warmup + p.calls
        rate = p.arrivals_per_hour / 3600.0
        arrival_times = []
        t = self.now
        for _ in range(total):
            t += self.rng.expovariate(rate)
            arrival_times.append(t)
        self.tally.window = (arrival_times[p.warmup], arrival_times[-1])
        self.tally.last_change = self.now
        for index, at in enumerate(arrival_times):
            self._schedule(at, _ARRIVAL, f"call-{index:07d}")
        self._loop()
        self.tally._integrate(self.now)
        return self._result(arrival_times[-1] - arrival_times[p.warmup])

    def _loop(self) -> None:
        acd, heap = self.acd, self.heap
        patience = self.params.patience_seconds
        warmup = self.params.warmup
        while heap:
            deadline = acd.next_deadline()
            if deadline is not None and deadline <= heap[0][0]:
                self.now = max(self.now, deadline)
                self._carry_out(acd.advance(deadline))
                continue
            at, _, kind, call_id = heapq.heappop(heap)
            self.now = at
            if kind == _ARRIVAL:
                if int(call_id[5:]) >= warmup:
                    self.tally.measured[call_id] = True
                if patience is not None:
                    self._schedule(at + self.rng.expovariate(1.0 / patience), _ABANDON, call_id)
                self._carry_out(acd.call_arrived(ParkedCall(call_id, QUEUE), at))
            elif kind == _HANGUP:
                self.answered.discard(call_id)
                self._carry_out(acd.caller_hung_up(call_id, at))
                leg = self.agent_legs.pop(call_id)  # the agent's leg follows out of the bridge
                self._carry_out(acd.agent_hung_up(leg, at))
            elif call_id not in self.answered:
                self._carry_out(acd.caller_hung_up(call_id, at, cause="ORIGINATOR_CANCEL"))

    def _result(self, measured_seconds: float) -> dict[str, Any]:
        p, tally = self.params, self.tally
        offered = max(tally.offered, 1)
        kpi_base = max(offered - tally.short_abandons, 1)
        result: dict[str, Any] = {
            "service_level": tally.answered_within / offered,
            "asa_seconds": tally.wait_answered / max(tally.answered, 1),
            "occupancy": tally.busy_area / (p.agents * measured_seconds),
            "abandon_rate": tally.abandoned / offered,
            "answered": tally.answered,
            "abandoned": tally.abandoned,
            "offered": tally.offered,
            "answered_within_threshold": tally.answered_within,
            "service_level_of_answered": tally.answered_within / max(tally.answered, 1),
            "service_level_kpi": tally.answered_within / kpi_base,
            "abandon_rate_kpi": (tally.abandoned - tally.short_abandons) / kpi_base,
            "average_abandon_seconds": tally.wait_abandoned / max(tally.abandoned, 1),
            "short_abandons": tally.short_abandons,
            "events_published": tally.events,
            "simulated_seconds": self.now - p.start,
            "theory": theory(p),
            "parameters": {
                "arrivals_per_hour": p.arrivals_per_hour,
                "aht_seconds": p.aht_seconds,
                "agents": p.agents,
                "threshold_seconds": p.threshold_seconds,
                "calls": p.calls,
                "warmup": p.warmup,
                "seed": p.seed,
                "patience_seconds": p.patience_seconds,
                "short_abandon_seconds": p.short_abandon_seconds,
            },
        }
        return result


def theory(p: SimulationParams) -> dict[str, Any]:
    """Return what queueing theory predicts for these parameters (Erlang C, or A with patience)."""
    if p.patience_seconds is None:
        c = erlang_c_metrics(
            calls_per_hour=p.arrivals_per_hour,
            aht_seconds=p.aht_seconds,
            agents=p.agents,
            threshold_seconds=p.threshold_seconds,
        )
        return {
            "model": "erlang_c",
            "service_level": c.service_level,
            "asa_seconds": c.asa_seconds,
            "occupancy": c.occupancy,
            "abandon_rate": 0.0,
        }
    a = erlang_a_metrics(
        calls_per_hour=p.arrivals_per_hour,
        aht_seconds=p.aht_seconds,
        agents=p.agents,
        patience_seconds=p.patience_seconds,
        threshold_seconds=p.threshold_seconds,
    )
    return {
        "model": "erlang_a",
        "service_level": a.service_level,
        "asa_seconds": a.asa_seconds,
        "occupancy": a.occupancy,
        "abandon_rate": a.abandon_probability,
    }


def simulate(params: SimulationParams, events_out: IO[str] | None = None) -> dict[str, Any]:
    """Run one simulation and return its figures (and theory's) as a JSON-ready dict."""
    if params.calls < 1 or params.warmup < 0 or params.agents < 1:
        raise ValueError("need at least one measured call and one agent, and warmup >= 0")
    if params.arrivals_per_hour <= 0 or params.aht_seconds <= 0 or params.threshold_seconds < 0:
        raise ValueError("arrival rate and handle time must be positive, threshold >= 0")
    if params.patience_seconds is not None and params.patience_seconds <= 0:
        raise ValueError("patience must be positive")
    return Simulation(params, events_out).run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cc_routing.simulate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--arrivals-per-hour", type=float, required=True)
    parser.add_argument("--aht", type=float, required=True, help="mean handle time, seconds")
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--threshold", type=float, default=20.0, help="service-level T, seconds")
    parser.add_argument("--calls", type=int, default=100_000, help="measured calls")
    parser.add_argument("--warmup", type=int, default=2000, help="calls before measuring")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--patience", type=float, default=None, help="mean patience, seconds")
    parser.add_argument("--short-abandon", type=float, default=5.0)
    parser.add_argument("--events-out", default=None, help="write published events (JSON lines)")
    parser.add_argument("--tenant", default="sim")
    parser.add_argument(
        "--no-explain", action="store_true", help="skip decision explanations (faster)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: print one JSON object with the run's figures."""
    args = _parser().parse_args(argv)
    params = SimulationParams(
        arrivals_per_hour=args.arrivals_per_hour,
        aht_seconds=args.aht,
        agents=args.agents,
        threshold_seconds=args.threshold,
        calls=args.calls,
        warmup=args.warmup,
        seed=args.seed,
        patience_seconds=args.patience,
        short_abandon_seconds=args.short_abandon,
        tenant=args.tenant,
        explain=not args.no_explain,
    )
    try:
        if args.events_out:
            with open(args.events_out, "w", encoding="utf-8") as sink:
                result = simulate(params, sink)
        else:
            result = simulate(params)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
