"""The dialer at work on one campaign: pacing, claiming leads, and the floor on FreeSWITCH.

Every tick (and after every switch event) the floor's deadlines are enforced, the pacer says
how many to dial, that many due leads are claimed from the store (do-not-call and calling
windows checked then), and customer legs are originated with our own UUIDs over ESL (``bgapi``
on an :class:`~cc_common.esl.InboundClient`, as routing drives the switch). Answered customers
are bridged to the agents working the campaign; outcomes go back to the store (retry rules) and
to the pacer; every attempt publishes ``dialer.*`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from cc_common.bus import Bus
from cc_common.esl import EslEvent, InboundClient
from cc_common.logging import get_logger
from cc_proto import EventData, make_event
from cc_routing.adapters.dialer_freeswitch import AVMD_BEEP, DialerInput, classify, to_esl
from cc_routing.adapters.freeswitch import ROUTING_FORMAT, event_time, failure_cause
from cc_routing.dialer.calls import (
    AdoptedCall,
    Bridge,
    Floor,
    FloorSettings,
    Hangup,
    LegState,
    OriginateAgent,
    OriginateCustomer,
    PlayAndHangup,
    Publish,
    Result,
    Settled,
    customer_leg,
)
from cc_routing.dialer.campaigns import Outcome
from cc_routing.dialer.pacing import Pacer, PacingState
from cc_routing.dialer_reconcile import read_link_resync
from cc_routing.dialer_store import DialerStore

log = get_logger(__name__)

DIALER_EVENTS = (
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "BACKGROUND_JOB",
)
Publisher = Callable[[EventData, float], Awaitable[None]]


def bus_publisher(bus: Bus, tenant: str) -> Publisher:
    """Publish the floor's ``dialer.*`` events on the bus, stamped with the switch's time."""

    async def publish(data: EventData, at: float) -> None:
        await bus.publish(
            make_event(data, tenant=tenant, occurred_at=datetime.fromtimestamp(at, UTC))
        )

    return publish


class AgentPool(Protocol):
    """Where a campaign's agents come from, and who says they are free.

    Routing's pool (:class:`cc_routing.dialer_service.RoutingAgents`) holds an agent as on a
    call from the moment the dialer takes them until their leg ends, so queues offer them
    nothing meanwhile; a fixed pool serves a team that works only this campaign.
    """

    async def free(self) -> dict[str, str]:
        """Agents free for this campaign now: id -> contact (what to originate)."""
        ...

    async def take(self, agent_id: str) -> bool:
        """Claim a free agent for a customer who answered; False when no longer free."""
        ...

    async def release(self, agent_id: str) -> None:
        """The agent's outbound leg is over."""
        ...

    def kept(self, agent_ids: Collection[str]) -> set[str]:
        """Of ``agent_ids``, those their inbound queues keep now (blending): an agent on this
        campaign's call who is kept goes back to inbound after it, so the pacer must not count
        on them coming free."""
        ...


class FixedAgents:
    """A team that works only this campaign: each is free unless on one of its calls."""

    def __init__(self, agents: Mapping[str, str]) -> None:
        self.agents = dict(agents)
        self.busy: set[str] = set()

    async def free(self) -> dict[str, str]:
        return {a: c for a, c in self.agents.items() if a not in self.busy}

    async def take(self, agent_id: str) -> bool:
        if agent_id in self.busy or agent_id not in self.agents:
            return False
        self.busy.add(agent_id)
        return True

    async def release(self, agent_id: str) -> None:
        self.busy.discard(agent_id)

    def kept(self, agent_ids: Collection[str]) -> set[str]:
        return set()  # they serve no queue


class DialerRuntime:
    """Runs one campaign's outbound calls until stopped."""

    def __init__(
        self,
        store: DialerStore,
        campaign: str,
        agents: Mapping[str, str] | AgentPool,
        *,
        dial_string: Callable[[str], str],
        publish: Publisher | None = None,
        clock: Callable[[], float] = time.time,
        tick_seconds: float = 0.25,
        ring_timeout_seconds: float = 30.0,
        detect_machines: bool = False,
    ) -> None:
        self.store = store
        self.campaign = campaign
        self.pool: AgentPool = FixedAgents(agents) if isinstance(agents, Mapping) else agents
        self.dial_string = dial_string
        self.publish = publish
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.ring_timeout_seconds = ring_timeout_seconds
        self.detect_machines = detect_machines
        self.floor: Floor | None = None
        self.pacer: Pacer | None = None
        self.settled: list[Settled] = []
        self._client: InboundClient | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._bridging: set[str] = set()
        self._taken: dict[str, str] = {}
        """agent leg -> agent, from the take until the leg ends (the pool holds them busy)."""
        self._dialling = True
        self.in_step = True
        """False from a lost link to the switch until :meth:`resync`: no dial meanwhile."""
        self._listeners: list[Callable[[], None]] = []

    async def start(self, client: InboundClient, adopted: Sequence[AdoptedCall] = ()) -> None:
        """Read the campaign, subscribe to the switch's events and start dialling.

        ``adopted`` are this campaign's calls that outlived the instance that dialled them
        (:mod:`cc_routing.dialer_reconcile`): taken in before the first dial, their agents held.
        """
        config, _state = await self.store.get_campaign(self.campaign)
        settings = FloorSettings(
            campaign=self.campaign,
            caller_id=config.caller_id,
            ring_timeout_seconds=self.ring_timeout_seconds,
            detect_machines=self.detect_machines or config.detect_machines,
            machine_message=config.machine_message if config.machine_action == "message" else None,
        )
        self.floor = Floor(settings, new_id=lambda: str(uuid.uuid4()))
        self.pacer = Pacer(config.mode)
        self._client = client
        for name in DIALER_EVENTS:
            self._listeners.append(client.on(name, self.on_event))
        self._listeners.append(client.on(f"CUSTOM {AVMD_BEEP}", self.on_event))
        await client.events(ROUTING_FORMAT, *DIALER_EVENTS, "CUSTOM", AVMD_BEEP)
        async with self._lock:
            now = self.clock()
            for call in adopted:
                if call.agent_id is not None and call.agent_leg is not None:
                    self._taken[call.agent_leg] = call.agent_id
                await self._carry_out(self.floor.adopt(call, now))
            await self._sync_agents(now)
        self._loop = asyncio.create_task(self._run(), name=f"dialer-{self.campaign}")

    def stop_dialling(self) -> None:
        """Place no more calls; the ones in progress still get an agent, the grace and an end."""
        self._dialling = False

    @property
    def idle(self) -> bool:
        """Whether no call of this campaign is in progress and no agent is held for one."""
        return self.floor is None or (not self.floor.legs and not self._taken)

    def held_agents(self) -> set[str]:
        """Agents held for this campaign's calls (their legs not ended yet)."""
        return set(self._taken.values())

    @property
    def waiting(self) -> bool:
        """Whether a customer who answered is still within the grace, waiting for an agent."""
        return self.floor is not None and self.floor.waiting_customers() > 0

    async def stop(self) -> None:
        """Stop at once: no more dials, no more events (calls in progress end on the switch)."""
        self._dialling = False
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for remove in self._listeners:
            remove()
        self._listeners.clear()
        for task in list(self._tasks):
            task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a bad tick must not stop the campaign
                log.warning("dialer.tick_failed", campaign=self.campaign, error=repr(exc))
            await asyncio.sleep(self.tick_seconds)

    async def tick(self) -> None:
        """Enforce the grace deadlines, then dial what the pacer asks for."""
        floor, pacer = self._parts()
        async with self._lock:
            now = self.clock()
            await self._carry_out(floor.advance(now))
            await self._sync_agents(now)
            if self._client is None or not self._client.connected:
                self.in_step = False  # the events of the outage are lost: resync first
            if not self._dialling or not self.in_step:
                return
            kept = self.pool.kept(floor.busy_since)  # back to inbound after their call
            busy = {a: since for a, since in floor.busy_since.items() if a not in kept}
            state = PacingState(
                staffed_agents=len(set(floor.ready) | (set(self._taken.values()) - kept)),
                free_agents=len(floor.ready),
                busy_elapsed=[now - since for since in busy.values()],
                ringing_elapsed=floor.ringing_elapsed(now),
                waiting_customers=floor.waiting_customers(),
            )
            wanted = pacer.dials_to_place(state)
            if wanted <= 0:
                return
            claimed = await self.store.claim_dials(self.campaign, wanted, list(floor.ready))
            for lead in claimed.leads:
                leg = customer_leg(lead.lead_id, lead.attempt)
                await self._carry_out(floor.dial(leg, lead.lead_id, lead.number, lead.attempt, now))

    async def _sync_agents(self, now: float) -> None:
        """Make the floor's ready agents those the pool says are free (and not ours already)."""
        floor, _pacer = self._parts()
        free = await self.pool.free()
        for agent in list(floor.ready):
            if agent not in free:
                floor.agent_gone(agent)
        ours = set(self._taken.values())
        for agent, contact in free.items():
            if agent not in floor.ready and agent not in ours:
                await self._carry_out(floor.agent_ready(agent, contact, now))

    def _parts(self) -> tuple[Floor, Pacer]:
        if self.floor is None or self.pacer is None:
            raise RuntimeError("the dialer runtime is not started")
        return self.floor, self.pacer

    async def on_event(self, event: EslEvent) -> None:
        """Feed one switch event about a dialer leg to the floor."""
        happened = classify(event)
        if happened is None:
            return
        await self.handle(happened, event_time(event, self.clock()))

    async def handle(self, happened: DialerInput, now: float) -> None:
        """Apply one classified input and carry out the floor's answer."""
        floor, _pacer = self._parts()
        async with self._lock:
            leg, kind = happened.leg, happened.kind
            if kind == "customer_answered":
                results = floor.customer_answered(leg, now)
            elif kind == "customer_bridged":
                results = floor.bridged(leg, now)
            elif kind == "customer_ended":
                results = floor.customer_ended(leg, happened.cause or "NORMAL_CLEARING", now)
            elif kind == "agent_answered":
                results = floor.agent_answered(leg, now)
            elif kind == "agent_ended":
                await self._release(leg)
                agent = floor.leg_agents.get(leg)
                since = floor.busy_since.get(agent) if agent else None
                ready = agent is not None and agent in await self.pool.free()  # no wrap-up
                results = floor.agent_leg_ended(leg, now, ready=ready)
                if since is not None:
                    self._parts()[1].call_handled(now - since)
            elif kind == "machine":
                results = floor.machine_detected(leg, now)
            else:
                results = []
            await self._carry_out(results)

    async def resync(self, api: InboundClient) -> None:
        """After a lost link to the switch: learn from it what the floor missed, then dial again.

        ``api`` is a connection for queries (routing's, never the event one). Each leg the floor
        holds is looked up by uuid: ended ones are settled (and their agents handed back),
        answered or bridged ones followed, hangups lost with the link sent again
        (:func:`cc_routing.dialer_reconcile.plan_link_resync`). Inputs the events that came
        after the link was back already gave are ignored by the floor, so none counts twice.
        """
        floor, _pacer = self._parts()
        async with self._lock:
            self.in_step = False
            calls, held = floor.calls(), set(self._taken)
        plan = await read_link_resync(api, calls, held)
        for happened in plan.inputs:
            if happened.kind == "agent_answered" and happened.leg in self._bridging:
                continue  # its bridge was asked for already
            await self.handle(happened, self.clock())
        for leg in plan.hang_up:
            await self._send(Hangup(leg))
        self.in_step = True
        log.info(
            "dialer.resynced",
            campaign=self.campaign,
            inputs=len(plan.inputs),
            hung_up=len(plan.hang_up),
        )

    async def _carry_out(self, results: list[Result]) -> None:
        for result in results:
            if isinstance(result, Publish):
                if self.publish is not None:
                    await self.publish(result.data, result.at)
            elif isinstance(result, Settled):
                await self._settle(result)
            else:
                await self._send(result)

    async def _settle(self, settled: Settled) -> None:
        _floor, pacer = self._parts()
        pacer.dial_ended(settled.ring_seconds, settled.live)
        if settled.live:
            pacer.live_answer_settled(self.clock(), settled.outcome is Outcome.ABANDONED)
        await self.store.record_outcome(self.campaign, settled.lead_id, settled.outcome)
        self.settled.append(settled)  # once stored

    async def _send(self, command: Any) -> None:
        client = self._client
        if client is None or not client.connected:
            log.warning("dialer.switch_unavailable", command=type(command).__name__)
            return
        if isinstance(command, Bridge):
            self._bridging.add(command.agent_leg)
        if isinstance(command, OriginateAgent):
            if not await self.pool.take(command.agent_id):  # a queue got them first
                floor, _pacer = self._parts()
                await self._carry_out(floor.agent_taken(command.leg, self.clock()))
                return
            self._taken[command.leg] = command.agent_id
        for line in to_esl(command, dial_string=self.dial_string):
            job = await client.bgapi(line)
            if isinstance(command, OriginateCustomer | OriginateAgent):
                self._spawn(self._watch(job, command))
        if isinstance(command, PlayAndHangup):
            self._spawn(self._hang_up_after(command))

    async def _release(self, agent_leg: str) -> None:
        """An agent leg is over: hand its agent back to the pool (once)."""
        agent = self._taken.pop(agent_leg, None)
        if agent is not None:
            await self.pool.release(agent)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, job: Any, command: OriginateCustomer | OriginateAgent) -> None:
        """An originate that fails says why only in its job: end the leg with that cause."""
        try:
            result = await job.result()
        except Exception:
            return
        if result.ok:
            return
        cause = failure_cause(result.text)
        floor, _pacer = self._parts()
        if isinstance(command, OriginateAgent) and command.leg not in self._bridging:
            async with self._lock:  # no leg, or one whose hangup event may never come
                await self._release(command.leg)
        if isinstance(command, OriginateCustomer):
            call = floor.legs.get(command.leg)
            if call is None or call.state is not LegState.RINGING:
                return  # it answered: its own events tell the rest
            kind = "customer_ended"
        else:
            if command.leg not in floor.agent_legs or command.leg in self._bridging:
                return  # bridged before its job returned: ORIGINATOR_CANCEL though it stands
            kind = "agent_ended"
        await self.handle(DialerInput(kind, command.leg, cause), self.clock())

    async def _hang_up_after(self, command: PlayAndHangup) -> None:
        await asyncio.sleep(command.seconds)
        client = self._client
        if client is not None and client.connected:
            await client.bgapi(f"uuid_kill {command.leg} NORMAL_CLEARING")
