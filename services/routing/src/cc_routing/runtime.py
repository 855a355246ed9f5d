"""The routing service at run time: the ACD core driven by FreeSWITCH, the API and the clock.

Every input (an ESL event, an API request, a timer) takes the same path under one lock: ask the
core, then carry out what it returns, in order. Events to publish and the agent states they
change are written in one transaction with the outbox (the relay publishes them with confirms);
then the FreeSWITCH commands go out with ``bgapi``. On start, and after every reconnect to
FreeSWITCH, the core is reconciled with the live channels (:mod:`cc_routing.reconcile`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.aio import wait_for_wakeup
from cc_common.db import Database, Outbox, OutboxRelay, upsert
from cc_common.esl import EslEvent, InboundClient
from cc_common.logging import get_logger, log_context
from cc_proto.events import CallAnswered, CallCallbackRequested, CallEnded, CallOffered
from cc_routing.adapters import db as tables
from cc_routing.adapters.freeswitch import (
    ROUTING_EVENTS,
    AgentAnswered,
    AgentLegEnded,
    BadCall,
    CallerBridged,
    CallerEnded,
    CallerParked,
    CustomerAnswered,
    CustomerEnded,
    Dialplan,
    Input,
    JobFinished,
    classify,
    event_time,
    failure_cause,
    forget_hangup,
    to_esl,
)
from cc_routing.core import (
    Acd,
    BridgeCall,
    Command,
    Destination,
    DialCustomer,
    HangupCall,
    OfferCall,
    PublishEvent,
    ReportProblem,
    TransferCall,
)

log = get_logger(__name__)

ORIGINATOR_CANCEL = "ORIGINATOR_CANCEL"

Clock = Callable[[], float]
Store = Callable[[AsyncSession], Awaitable[None]]
"""Extra writes (configuration) made in the same transaction as the step's events."""


@dataclass(slots=True)
class _Batch:
    """What one core step produced, split by where it goes."""

    events: list[PublishEvent] = field(default_factory=list)
    switch: list[Command] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)
    bridges: list[BridgeCall] = field(default_factory=list)


class RoutingRuntime:
    """Owns the ACD for one tenant and keeps it in step with FreeSWITCH and the database."""

    def __init__(
        self,
        *,
        tenant: str,
        acd: Acd,
        db: Database,
        outbox: Outbox,
        relay: OutboxRelay,
        dialplan: Dialplan,
        gateway_template: str,
        fallback: Destination,
        clock: Clock = time.time,
        clock_rate: float = 1.0,
    ) -> None:
        if not clock_rate > 0:
            raise ValueError(f"clock_rate must be > 0, got {clock_rate}")
        self.tenant = tenant
        self.acd = acd
        self.db = db
        self.outbox = outbox
        self.relay = relay
        self._dialplan = dialplan
        self._gateway = gateway_template
        self._fallback = fallback
        self._clock = clock
        self._clock_rate = clock_rate
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._esl: InboundClient | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        # Closed while the core is rebuilt from a snapshot of the live channels: an event
        # handled between the snapshot and the rebuild would be lost (a hangup applied to a
        # call not yet restored), so events wait here, in order, and are applied after it.
        self._in_step_with_switch = asyncio.Event()
        self._listening = True
        self.problems = 0
        self.recent_problems: collections.deque[str] = collections.deque(maxlen=50)
        """The latest problems reported, ``code: message`` (for operators and tests)."""
        self.orphans: set[str] = set()
        """Legs a restore hung up (rung by an instance that is gone): their last events are
        expected and mean nothing to this core."""

    # --- the one path every input takes -------------------------------------------------------

    def now(self) -> float:
        """Return the service clock (epoch seconds)."""
        return self._clock()

    async def step(
        self,
        decide: Callable[[], list[Command]],
        *,
        from_switch: bool = False,
        store: Store | None = None,
    ) -> list[Command]:
        """Ask the core (``decide``) under the lock and carry out what it returns.

        ``store`` writes what the change needs kept (configuration) in the same transaction,
        under the same lock, so stored and applied changes never come in different orders.
        Once a stopping instance has settled, FreeSWITCH's news is left to the next one
        (``from_switch`` steps do nothing): it reconciles from the live channels.
        """
        async with self._lock:
            if from_switch and not self._listening:
                return []
            commands = decide()
            await self._carry_out(commands, store)
            return commands

    async def _carry_out(self, commands: Sequence[Command], store: Store | None = None) -> None:
        batch = _Batch()
        for command in commands:
            if isinstance(command, PublishEvent):
                batch.events.append(command)
                if command.agent_id is not None:
                    batch.agents.add(command.agent_id)
            elif isinstance(command, ReportProblem):
                self._report(command)
            else:
                batch.switch.append(command)
                if isinstance(command, BridgeCall):
                    batch.bridges.append(command)
        if batch.events or batch.bridges or store is not None:
            await self._persist(batch, store)
            self.relay.notify()
        await self._send(batch.switch)
        self._wake.set()

    def _report(self, problem: ReportProblem) -> None:
        self.problems += 1
        self.recent_problems.append(f"{problem.code}: {problem.message}")
        log.warning(
            f"routing.{problem.code}",
            message=problem.message,
            call_id=problem.call_id,
            agent_id=problem.agent_id,
            queue=problem.queue,
        )

    async def _persist(self, batch: _Batch, store: Store | None = None) -> None:
        """Write events to the outbox, the agents' states and bridges asked for, in one go."""
        async with self.db.session() as session:
            if store is not None:
                await store(session)
            for published in batch.events:
                await self.outbox.add(session, published.envelope(tenant=self.tenant))
                await self._track_calls(session, published)
            for bridge in batch.bridges:
                await self._bridge_requested(session, bridge)
            for agent_id in sorted(batch.agents):
                await self._save_agent_state(session, agent_id)

    async def _bridge_requested(self, session: AsyncSession, bridge: BridgeCall) -> None:
        """Note the bridge before asking for it: a crash before its confirmation restores the
        call as connecting to that agent leg, never as a caller still waiting."""
        calls = tables.active_calls
        view = self.acd.call_view(bridge.call_id)
        if view is None or view.status != "connecting":
            return  # a callback's bridge: the customer answered, the call is already answered
        mine = (calls.c.tenant == self.tenant) & (calls.c.call_id == bridge.call_id)
        await session.execute(
            calls.update()
            .where(mine)
            .values(
                agent_id=bridge.agent_id,
                agent_leg=bridge.offer_id,
                bridge_requested_at=self.acd.offer_answered_at(bridge.offer_id),
            )
        )

    async def _track_calls(self, session: AsyncSession, published: PublishEvent) -> None:
        """Keep the ledgers a restart needs: calls in progress and booked callbacks."""
        data, call_id = published.data, published.call_id
        if call_id is None:
            return
        calls, callbacks = tables.active_calls, tables.callbacks
        mine = (calls.c.tenant == self.tenant) & (calls.c.call_id == call_id)
        if isinstance(data, CallOffered):
            values = {
                "tenant": self.tenant,
                "call_id": call_id,
                "queue": data.queue,
                "priority": data.priority,
                "enqueued_at": published.at,
                "caller_number": data.caller_number,
                # A call transferred to a queue is offered again: no longer answered.
                "agent_id": None,
                "agent_leg": None,
                "answered_at": None,
                "bridge_requested_at": None,
            }
            await upsert(session, calls, values, ["tenant", "call_id"])
        elif isinstance(data, CallAnswered):
            answered = {"agent_id": published.agent_id, "agent_leg": data.agent_leg_uuid}
            await session.execute(
                calls.update().where(mine).values(answered_at=published.at, **answered)
            )
        elif isinstance(data, CallCallbackRequested) and data.callback_call_id is not None:
            view = self.acd.call_view(data.callback_call_id)
            await session.execute(
                callbacks.insert().values(
                    tenant=self.tenant,
                    callback_id=data.callback_call_id,
                    queue=data.queue,
                    number=data.callback_number,
                    priority=data.priority,
                    enqueued_at=view.enqueued_at if view is not None else published.at,
                    origin_call_id=call_id,
                    skills=view.skills if view is not None else None,
                )
            )
        elif isinstance(data, CallEnded):
            await session.execute(calls.delete().where(mine))
            await session.execute(
                callbacks.delete().where(
                    callbacks.c.tenant == self.tenant, callbacks.c.callback_id == call_id
                )
            )

    async def _save_agent_state(self, session: AsyncSession, agent_id: str) -> None:
        try:
            view = self.acd.agent_view(agent_id)
        except Exception:  # removed in this very step
            return
        values: dict[str, Any] = {
            "tenant": self.tenant,
            "agent_id": agent_id,
            "state": view.state,
            "since": view.since,
            "reason": view.reason,
            "wrap_until": view.wrap_until,
            "calls_answered": view.calls_answered,
            "talk_seconds": view.talk_seconds,
        }
        await upsert(session, tables.agent_states, values, ["tenant", "agent_id"])

    async def _send(self, commands: Sequence[Command]) -> None:
        """Send the commands' ESL lines with bgapi, pipelined in order; watch originates.

        Every line is written before any reply is awaited (FreeSWITCH answers a connection's
        commands in order), so a step with hundreds of commands, a restore, is not hundreds of
        round trips.
        """
        client = self._esl
        if client is None or not client.connected:
            if commands:
                log.warning("routing.switch_unavailable", command=type(commands[0]).__name__)
            return
        sent: list[tuple[Command, str, asyncio.Future[Any]]] = []
        for command in commands:
            for line in to_esl(command, dialplan=self._dialplan, gateway_template=self._gateway):
                sent.append((command, line, asyncio.ensure_future(client.bgapi(line))))
        for command, line, reply in sent:
            try:
                job = await reply
            except Exception as exc:  # the reconnect's reconciliation repairs what was lost
                log.warning(
                    "routing.command_failed", command=line.split(" ", 1)[0], error=repr(exc)
                )
                continue
            if isinstance(command, OfferCall | DialCustomer | BridgeCall):
                self._watch(job, command)

    def _watch(self, job: Any, command: OfferCall | DialCustomer | BridgeCall) -> None:
        task = asyncio.create_task(self._job_done(job, command))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _job_done(self, job: Any, command: OfferCall | DialCustomer | BridgeCall) -> None:
        """An originate or bridge that failed before any channel event tells us so only here."""
        try:
            result = await job.result()
        except Exception:
            return  # connection lost: reconciliation takes over
        if result.ok:
            return
        cause = failure_cause(result.text)
        when = self.now()
        if isinstance(command, BridgeCall):
            await self.step(lambda: self.acd.bridge_failed(command.offer_id, when))
        elif isinstance(command, OfferCall):
            if cause == ORIGINATOR_CANCEL:
                # Our own cancel, or FreeSWITCH's race: a leg bridged before its originate
                # returned ends the job so while the bridge stands. The leg's own events
                # (answer, bridge, hangup) say what happened; the job's reply does not.
                return
            # A leg that failed before it existed (no channel events): a miss while ringing,
            # nothing once the leg answered.
            await self.step(lambda: self.acd.offer_failed(command.offer_id, cause, when))
        else:
            await self.step(lambda: self.acd.customer_unreachable(command.call_id, cause, when))

    # --- FreeSWITCH ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def reconciling(self) -> AsyncIterator[None]:
        """Hold FreeSWITCH's events while the core is rebuilt from the live channels."""
        self._in_step_with_switch.clear()
        try:
            yield
        finally:
            self._in_step_with_switch.set()

    def attach(self, client: InboundClient) -> None:
        """Route the client's events into the core."""
        self._esl = client
        for name in ROUTING_EVENTS:
            client.on(name, self.on_event)

    async def subscribe(self, client: InboundClient) -> None:
        """Ask FreeSWITCH for the events routing needs (restored by the client on reconnect)."""
        await client.events("plain", *ROUTING_EVENTS)

    async def on_event(self, event: EslEvent) -> None:
        """React to one FreeSWITCH event with the core, at FreeSWITCH's time."""
        happened = classify(event)
        if happened is None or isinstance(happened, JobFinished):
            return
        when = event_time(event, self.now())
        await self._in_step_with_switch.wait()
        with log_context(call_id=getattr(happened, "call_id", None) or event.unique_id):
            await self.handle(happened, when)

    async def handle(self, happened: Input, when: float) -> None:
        """Apply one classified FreeSWITCH input."""
        decide = self._decision(happened, when)
        if decide is not None:
            await self.step(decide, from_switch=True)
        if isinstance(happened, CallerEnded) and self._listening:
            # Off the event path: the next event need not wait for this reply.
            task = asyncio.create_task(self._forget_hangup(happened.call_id))
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _forget_hangup(self, call_id: str) -> None:
        """The hangup came as an event: its note in FreeSWITCH is not needed."""
        client = self._esl
        if client is None or not client.connected:
            return
        with contextlib.suppress(Exception):  # a note left behind costs a few bytes
            await client.bgapi(forget_hangup(call_id))

    def _decision(self, happened: Input, when: float) -> Callable[[], list[Command]] | None:
        """Return the core's question for one FreeSWITCH input (None: nothing to ask)."""
        acd = self.acd
        match happened:
            case CallerParked(parked=parked, after_bridge=True):
                if acd.holds_call(parked.call_id):
                    return None
                # The conversation ended and the caller fell back to park: let them go.
                return lambda: [HangupCall(parked.call_id, "NORMAL_CLEARING")]
            case CallerParked(parked=parked):
                return lambda: acd.call_arrived(parked, when)
            case AgentAnswered(offer_id=offer_id) if offer_id in self.orphans:
                return None  # a ring left over by an instance that is gone, being hung up
            case AgentAnswered(offer_id=offer_id):
                return lambda: self._agent_answered(offer_id, when)
            case AgentLegEnded(offer_id=offer_id, cause=cause):
                self.orphans.discard(offer_id)  # its end frees the agent's phone
                return lambda: acd.agent_hung_up(offer_id, when, cause=cause)
            case CallerBridged(call_id=call_id):
                return lambda: acd.call_bridged(call_id, when)
            case CallerEnded(call_id=call_id, cause=cause):
                return lambda: acd.caller_hung_up(call_id, when, cause=cause)
            case CustomerAnswered(call_id=call_id):
                return lambda: acd.customer_answered(call_id, when)
            case CustomerEnded(call_id=call_id, cause=cause, answered=True):
                return lambda: acd.caller_hung_up(call_id, when, cause=cause)
            case CustomerEnded(call_id=call_id, cause=cause):
                return lambda: acd.customer_unreachable(call_id, cause, when)
            case BadCall(call_id=call_id, reason=reason):
                # A caller routing cannot read goes to the platform's fallback, never dropped.
                problem = ReportProblem("bad_call_variables", reason, call_id=call_id)
                send = TransferCall(call_id, self._fallback, "bad_call_variables")
                return lambda: [problem, send]
        return None

    def _agent_answered(self, offer_id: str, when: float) -> list[Command]:
        """An agent leg answered: the core bridges it, or it is a stray and is hung up.

        A stray was rung by an instance that is gone (its originate still in flight when it
        stopped): nobody will ever bridge it, so the agent is not left on a dead line.
        """
        if self.acd.has_offer(offer_id):
            return self.acd.agent_answered(offer_id, when)
        log.info("routing.stray_agent_leg", agent_leg=offer_id)
        return [HangupCall(offer_id, "ORIGINATOR_CANCEL")]

    # --- timers -------------------------------------------------------------------------------

    def start_timers(self) -> None:
        """Run the core's deadlines (ring timeouts, wrap-up, relaxation, overflow ...)."""
        self._timer_task = asyncio.create_task(self._run_timers(), name="routing-timers")

    async def _run_timers(self) -> None:
        while True:
            deadline = self.acd.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else self._real_seconds_until(deadline)
            await wait_for_wakeup(self._wake, timeout)
            deadline = self.acd.next_deadline()
            if deadline is not None and deadline <= self.now():
                try:
                    await self.step(self._advance)
                except Exception:  # a timer step must never stop the timers
                    log.exception("routing.timer_failed")

    def _real_seconds_until(self, deadline: float) -> float:
        """How long to sleep (real seconds) for the service clock to reach ``deadline``.

        A clock running ``clock_rate`` times faster than real time (a compressed demo day)
        reaches it sooner; waking early is harmless, the loop just looks again.
        """
        return max(0.0, deadline - self.now()) / self._clock_rate

    def _advance(self) -> list[Command]:
        return self.acd.advance(self.now())

    async def settle(self, within: float) -> None:
        """Wait (at most ``within`` seconds) for rings and bridges to resolve, then stop listening.

        A clean handover then leaves no call half-answered and no agent ringing for nobody:
        rings still going at the deadline are cancelled (each call keeps its place for the
        next instance), and a bridge asked for is in the ledger. Checked and closed under the
        lock, so no answer slips in between.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with self._lock:
            self.acd.hold_offers()
        while True:
            async with self._lock:
                busy = self.acd.connecting_calls() or self.acd.ringing_offers()
                if not busy or loop.time() >= deadline:
                    commands = self.acd.stop_ringing(self.now())
                    await self._carry_out(commands)
                    self._listening = False
                    return
            # Polled: this runs once, at shutdown, and each confirmation is an ordinary event.
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Stop timers and job watchers."""
        tasks = [t for t in (self._timer_task, *self._jobs) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
