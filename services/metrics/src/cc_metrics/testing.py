"""Test and benchmark support: event builders and a small simulated contact-center run.

The simulated run keeps its own records of every call and agent (waits, answers, busy time)
beside the events it emits, so a test can check that the metrics computed from the events equal
the figures computed directly from the records.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cc_proto import Envelope, EventData, make_event
from cc_proto import events as ev

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    """A clock a test sets by hand; services read it for lag, live gauges and time in progress."""

    def __init__(self, at: datetime | None = None) -> None:
        self.now = at or datetime.now(UTC)

    def __call__(self) -> datetime:
        """Return the time the test has set."""
        return self.now


class Events:
    """Builds envelopes for one tenant with times given as seconds after ``start``."""

    def __init__(self, tenant: str = "acme", start: datetime = T0) -> None:
        self.tenant = tenant
        self.start = start

    def at(self, seconds: float) -> datetime:
        """Return the instant ``seconds`` after the start."""
        return self.start + timedelta(seconds=seconds)

    def make(
        self,
        data: EventData,
        at: float,
        *,
        call_id: str | None = None,
        agent_id: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope[EventData]:
        """Wrap ``data`` in an envelope ``at`` seconds after the start."""
        envelope: Envelope[EventData] = make_event(
            data,
            tenant=self.tenant,
            occurred_at=self.at(at),
            call_id=call_id,
            agent_id=agent_id,
            event_id=event_id,
        )
        return envelope

    def offered(self, call: str, queue: str, at: float, **kw: Any) -> Envelope[EventData]:
        """call.offered."""
        return self.make(ev.CallOffered(queue=queue, **kw), at, call_id=call)

    def queued(self, call: str, queue: str, at: float, position: int = 1) -> Envelope[EventData]:
        """call.queued."""
        return self.make(ev.CallQueued(queue=queue, position=position), at, call_id=call)

    def agent_offered(self, call: str, queue: str, agent: str, at: float) -> Envelope[EventData]:
        """call.agent_offered."""
        data = ev.CallAgentOffered(
            queue=queue,
            agent_leg_uuid=f"{call}-{agent}",
            contact=f"user/{agent}",
            ring_timeout_seconds=20,
        )
        return self.make(data, at, call_id=call, agent_id=agent)

    def agent_missed(
        self, call: str, queue: str, agent: str, at: float, ring: float = 20.0
    ) -> Envelope[EventData]:
        """call.agent_missed."""
        data = ev.CallAgentMissed(
            queue=queue, agent_leg_uuid=f"{call}-{agent}", cause="NO_ANSWER", ring_seconds=ring
        )
        return self.make(data, at, call_id=call, agent_id=agent)

    def answered(
        self, call: str, queue: str, agent: str, at: float, wait: float, ring: float = 0.0
    ) -> Envelope[EventData]:
        """call.answered."""
        data = ev.CallAnswered(
            queue=queue, agent_leg_uuid=f"{call}-{agent}", wait_seconds=wait, ring_seconds=ring
        )
        return self.make(data, at, call_id=call, agent_id=agent)

    def abandoned(
        self, call: str, queue: str, at: float, wait: float, ringing: bool = False
    ) -> Envelope[EventData]:
        """call.abandoned."""
        data = ev.CallAbandoned(queue=queue, wait_seconds=wait, position=1, while_ringing=ringing)
        return self.make(data, at, call_id=call)

    def ended(
        self,
        call: str,
        at: float,
        outcome: ev.CallOutcome = ev.CallOutcome.ANSWERED,
        *,
        queue: str | None = None,
        agent: str | None = None,
        duration: float = 0.0,
        talk: float = 0.0,
        hold: float = 0.0,
    ) -> Envelope[EventData]:
        """call.ended."""
        data = ev.CallEnded(
            outcome=outcome,
            hangup_cause="NORMAL_CLEARING",
            queue=queue,
            duration_seconds=duration,
            talk_seconds=talk,
            hold_seconds=hold,
        )
        return self.make(data, at, call_id=call, agent_id=agent)

    def state(
        self,
        agent: str,
        from_state: ev.AgentState,
        to_state: ev.AgentState,
        at: float,
        *,
        since: float | None = None,
        team: str | None = "blue",
        reason: str | None = None,
        call: str | None = None,
    ) -> Envelope[EventData]:
        """agent.state_changed."""
        data = ev.AgentStateChanged(
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            team=team,
            from_state_since=None if since is None else self.at(since),
        )
        return self.make(data, at, agent_id=agent, call_id=call)

    def logged_in(
        self, agent: str, at: float, queues: tuple[str, ...] = ("sales",), team: str = "blue"
    ) -> Envelope[EventData]:
        """agent.logged_in."""
        return self.make(ev.AgentLoggedIn(queues=list(queues), team=team), at, agent_id=agent)

    def logged_out(self, agent: str, at: float, team: str | None = "blue") -> Envelope[EventData]:
        """agent.logged_out."""
        return self.make(ev.AgentLoggedOut(team=team), at, agent_id=agent)

    def dialled(self, campaign: str, lead: str, at: float, attempt: int = 1) -> Envelope[EventData]:
        """dialer.attempted."""
        data = ev.DialerAttempted(
            campaign=campaign, lead_id=lead, number="+4930123", attempt=attempt
        )
        return self.make(data, at)

    def dial_connected(
        self, campaign: str, lead: str, at: float, wait: float = 0.5, by: str = "human"
    ) -> Envelope[EventData]:
        """dialer.connected (``by`` a human, a machine, or unknown)."""
        data = ev.DialerConnected.model_validate(
            {"campaign": campaign, "lead_id": lead, "answered_by": by, "wait_seconds": wait}
        )
        return self.make(data, at)

    def dial_dropped(
        self, campaign: str, lead: str, at: float, wait: float = 2.0
    ) -> Envelope[EventData]:
        """dialer.dropped: a live answer abandoned by the 2-second rule."""
        return self.make(ev.DialerDropped(campaign=campaign, lead_id=lead, wait_seconds=wait), at)

    def machine_detected(
        self, campaign: str, lead: str, at: float, connected: tuple[float, float] | None = None
    ) -> Envelope[EventData]:
        """dialer.machine_detected: before the bridge, or (``connected``: the time and wait of
        the dialer.connected already out) after it."""
        data = ev.DialerMachineDetected(
            campaign=campaign,
            lead_id=lead,
            attempt=1,
            leg=f"leg-{lead}",
            after_bridge=connected is not None,
            connected_at=None if connected is None else self.at(connected[0]),
            connected_wait_seconds=0.0 if connected is None else connected[1],
        )
        return self.make(data, at)

    def dispositioned(
        self, campaign: str, lead: str, at: float, disposition: str, right_party: bool
    ) -> Envelope[EventData]:
        """dialer.dispositioned after a connected outbound call."""
        data = ev.DialerDispositioned(
            campaign=campaign,
            lead_id=lead,
            attempt=1,
            disposition=disposition,
            right_party=right_party,
            outcome="connected",
        )
        return self.make(data, at, agent_id="a1")


def dialer_day(e: Events, campaign: str = "renewals") -> list[Envelope[EventData]]:
    """A campaign's events from 09:00: ten dials; two people connected and one dropped by the
    2-second rule, a machine, and in the next interval a fifth lead connected without
    detection; three dispositions, two of them right-party contacts.

    By hand: connect rate 4/10, right-party contact rate 2/4, abandon rate 1/4 (over live
    answers), machine answers 1/10, connect wait (0.5 + 1.5 + 1.0) / 3 s.
    """
    return [
        *(e.dialled(campaign, f"l{n}", n) for n in range(1, 11)),
        e.dial_connected(campaign, "l1", 20, wait=0.5),
        e.dial_connected(campaign, "l2", 30, wait=1.5),
        e.dial_dropped(campaign, "l3", 40, wait=2.0),
        e.dial_connected(campaign, "l4", 50, wait=0.2, by="machine"),
        e.dial_connected(campaign, "l5", 1000, wait=1.0, by="unknown"),
        e.dispositioned(campaign, "l1", 100, "sale", right_party=True),
        e.dispositioned(campaign, "l2", 120, "wrong_party", right_party=False),
        e.dispositioned(campaign, "l5", 1100, "no_sale", right_party=True),
    ]


def machine_day(e: Events, campaign: str = "renewals") -> list[Envelope[EventData]]:
    """A campaign with answering-machine detection, from 09:00: four dials; l1 a person
    connected, l2 connected at 09:14:50 and found a machine by a beep at 09:15:05 (the next
    interval), l3 a machine found before any agent was bridged, l4 a person dropped by the
    2-second rule; l1's disposition is a right-party contact.

    By hand: connect rate 2/4 (l1, l4), right-party contact rate 1/2, abandon rate 1/2, machine
    answers 2/4, connect wait 0.5 s (l1 only); everything in the 09:00 interval, l2's
    correction included (where its dialer.connected counted).
    """
    return [
        *(e.dialled(campaign, f"l{n}", n) for n in range(1, 5)),
        e.dial_connected(campaign, "l1", 20, wait=0.5),
        e.dial_connected(campaign, "l2", 890, wait=0.25),
        e.machine_detected(campaign, "l2", 905, connected=(890, 0.25)),
        e.machine_detected(campaign, "l3", 30),
        e.dial_dropped(campaign, "l4", 40, wait=2.0),
        e.dispositioned(campaign, "l1", 100, "sale", right_party=True),
    ]


# --- a simulated run ---------------------------------------------------------------------------


@dataclass(slots=True)
class SimCall:
    """What the simulation itself knows about one call."""

    call_id: str
    arrived: float
    answered: float | None = None
    abandoned: float | None = None
    agent: str | None = None

    @property
    def wait(self) -> float:
        """Return the queue wait: arrival to answer or to abandonment."""
        left = self.answered if self.answered is not None else self.abandoned
        if left is None:
            raise RuntimeError(f"{self.call_id} is still waiting")
        return left - self.arrived


@dataclass(slots=True)
class SimRun:
    """A finished run: the events in publishing order, and the simulation's own records."""

    events: list[Envelope[EventData]]
    calls: list[SimCall]
    busy_seconds: float
    idle_seconds: float
    queue: str


@dataclass(order=True, slots=True)
class _Tick:
    at: float
    seq: int
    kind: str = field(compare=False)
    subject: str = field(compare=False)


def simulate_run(
    *,
    seed: int = 7,
    agents: int = 5,
    calls_per_hour: float = 100.0,
    talk_seconds: float = 150.0,
    wrap_seconds: float = 30.0,
    ring_seconds: float = 3.0,
    patience_seconds: float = 60.0,
    duration_seconds: float = 4 * 3600.0,
    queue: str = "sales",
    tenant: str = "acme",
    start: datetime = T0,
) -> SimRun:
    """Run an M/M/c+M queue with ringing and wrap-up; emit the events routing would publish."""
    return _Simulation(
        random.Random(seed),
        Events(tenant, start),
        agents,
        calls_per_hour,
        talk_seconds,
        wrap_seconds,
        ring_seconds,
        patience_seconds,
        duration_seconds,
        queue,
    ).run()


class _Simulation:
    def __init__(
        self,
        rng: random.Random,
        ev_: Events,
        agents: int,
        per_hour: float,
        talk: float,
        wrap: float,
        ring: float,
        patience: float,
        duration: float,
        queue: str,
    ) -> None:
        self.rng, self.ev, self.queue, self.duration = rng, ev_, queue, duration
        self.per_hour, self.talk, self.wrap, self.ring, self.patience = (
            per_hour,
            talk,
            wrap,
            ring,
            patience,
        )
        self.agents = [f"agent-{i}" for i in range(agents)]
        self.free: list[str] = list(self.agents)
        self.state_since: dict[str, tuple[ev.AgentState, float]] = {}
        self.waiting: list[SimCall] = []
        self.calls: dict[str, SimCall] = {}
        self.events: list[Envelope[EventData]] = []
        self.ticks: list[_Tick] = []
        self.seq = itertools.count()
        self.busy = 0.0
        self.idle = 0.0
        self.ringing: dict[str, str] = {}

    def schedule(self, at: float, kind: str, subject: str) -> None:
        heapq.heappush(self.ticks, _Tick(at, next(self.seq), kind, subject))

    def move(self, agent: str, to: ev.AgentState, at: float, call: str | None = None) -> None:
        state, since = self.state_since[agent]
        if state in (ev.AgentState.ON_CALL, ev.AgentState.WRAP_UP):
            self.busy += at - since
        elif state in (ev.AgentState.AVAILABLE, ev.AgentState.RESERVED):
            self.idle += at - since
        self.events.append(self.ev.state(agent, state, to, at, since=since, call=call))
        self.state_since[agent] = (to, at)

    def run(self) -> SimRun:
        for agent in self.agents:
            self.events.append(self.ev.logged_in(agent, 0.0, (self.queue,)))
            self.state_since[agent] = (ev.AgentState.LOGGED_OUT, 0.0)
            self.move(agent, ev.AgentState.AVAILABLE, 0.0)
        for i, at in enumerate(self._arrivals()):
            self.schedule(at, "arrive", f"call-{i}")
        end = 0.0
        while self.ticks:
            tick = heapq.heappop(self.ticks)
            end = tick.at
            getattr(self, f"_{tick.kind}")(tick.at, tick.subject)
        for agent in self.agents:
            self.move(agent, ev.AgentState.LOGGED_OUT, end + 1.0)
            self.events.append(self.ev.logged_out(agent, end + 1.0))
        return SimRun(self.events, list(self.calls.values()), self.busy, self.idle, self.queue)

    def _arrivals(self) -> Iterator[float]:
        at = self.rng.expovariate(self.per_hour / 3600.0)
        while at < self.duration:
            yield round(at, 3)
            at += self.rng.expovariate(self.per_hour / 3600.0)

    def _arrive(self, at: float, call_id: str) -> None:
        call = self.calls[call_id] = SimCall(call_id, at)
        self.events.append(self.ev.offered(call_id, self.queue, at))
        if not self.free:
            self.events.append(self.ev.queued(call_id, self.queue, at, len(self.waiting) + 1))
        self.waiting.append(call)
        self.schedule(at + round(self.rng.expovariate(1 / self.patience), 3), "give_up", call_id)
        self._dispatch(at)

    def _dispatch(self, at: float) -> None:
        while self.free and self.waiting:
            call, agent = self.waiting.pop(0), self.free.pop(0)
            call.agent = agent
            self.ringing[call.call_id] = agent
            self.move(agent, ev.AgentState.RESERVED, at, call.call_id)
            self.events.append(self.ev.agent_offered(call.call_id, self.queue, agent, at))
            self.schedule(at + self.ring, "answer", call.call_id)

    def _give_up(self, at: float, call_id: str) -> None:
        call = self.calls[call_id]
        if call.answered is not None or call.abandoned is not None:
            return
        call.abandoned = at
        ringing = self.ringing.pop(call_id, None)
        if call in self.waiting:
            self.waiting.remove(call)
        self.events.append(
            self.ev.abandoned(call_id, self.queue, at, at - call.arrived, bool(ringing))
        )
        self.events.append(
            self.ev.ended(
                call_id, at, ev.CallOutcome.ABANDONED, queue=self.queue, duration=at - call.arrived
            )
        )
        if ringing is not None:
            call.agent = None
            self.move(ringing, ev.AgentState.AVAILABLE, at, call_id)
            self.free.append(ringing)
            self._dispatch(at)

    def _answer(self, at: float, call_id: str) -> None:
        call = self.calls[call_id]
        agent = self.ringing.pop(call_id, None)
        if agent is None or call.abandoned is not None:
            return
        call.answered = at
        self.move(agent, ev.AgentState.ON_CALL, at, call_id)
        self.events.append(
            self.ev.answered(call_id, self.queue, agent, at, at - call.arrived, self.ring)
        )
        self.schedule(at + round(self.rng.expovariate(1 / self.talk), 3), "hangup", call_id)

    def _hangup(self, at: float, call_id: str) -> None:
        call = self.calls[call_id]
        if call.agent is None or call.answered is None:
            raise RuntimeError(f"{call_id} hung up without being answered")
        self.move(call.agent, ev.AgentState.WRAP_UP, at, call_id)
        talk = at - call.answered
        self.events.append(
            self.ev.ended(
                call_id,
                at,
                ev.CallOutcome.ANSWERED,
                queue=self.queue,
                agent=call.agent,
                duration=at - call.arrived,
                talk=talk,
            )
        )
        self.schedule(at + self.wrap, "wrapped", call_id)

    def _wrapped(self, at: float, call_id: str) -> None:
        agent = self.calls[call_id].agent
        if agent is None:
            raise RuntimeError(f"{call_id} wrapped up without an agent")
        self.move(agent, ev.AgentState.AVAILABLE, at, call_id)
        self.free.append(agent)
        self._dispatch(at)


def report_hour(now: datetime | None = None) -> datetime:
    """The start of the 15-minute interval holding ``now``: a report from there covers a run."""
    at = now or datetime.now(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


async def report_facts(
    api: Any, report: str, start: datetime, **params: str
) -> dict[str, dict[str, float]]:
    """Each row's summed facts (by key) of a report (``queues``, ``agents``) over the hour
    from ``start``, read through the metrics service's reports API (``api``: an httpx client)."""
    query = {
        "granularity": "total",
        "facts": "true",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        **params,
    }
    reply = await api.get(f"/reports/{report}", params=query)
    assert reply.status_code == 200, reply.text
    return {row["key"]: dict(row["facts"] or {}) for row in reply.json()["rows"]}
