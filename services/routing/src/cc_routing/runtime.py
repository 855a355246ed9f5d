"""The routing service at run time: the ACD core driven by FreeSWITCH, the API and the clock.

Every input (an ESL event, an API request, a timer) takes the same path: ask the core under one
lock, then carry out what it returns, in order, outside the lock. Events to publish and the
agent states they change are queued; a flusher writes everything queued meanwhile in one
transaction with the outbox (the relay publishes them with confirms), then sends the FreeSWITCH
commands with ``bgapi``, so nothing decided is visible before it is committed. On start, and
after every reconnect to FreeSWITCH, the core is reconciled with the live channels
(:mod:`cc_routing.reconcile`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from cc_common.aio import wait_for_wakeup
from cc_common.db import Database, Outbox, OutboxRelay
from cc_common.esl import EslEvent, InboundClient
from cc_common.logging import get_logger, log_context
from cc_routing.adapters import store as store_module
from cc_routing.adapters.dialer_freeswitch import AVMD_BEEP
from cc_routing.adapters.freeswitch import (
    ROUTING_EVENTS,
    ROUTING_FILTERS,
    ROUTING_FORMAT,
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
from cc_routing.adapters.store import LedgerEntry, Store
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
MAX_UNWRITTEN_STEPS = 1000
"""Steps from FreeSWITCH's events queued for writing beyond which an event waits for its own."""

Clock = Callable[[], float]


@dataclass(slots=True)
class _Work:
    """What one core step left to do, prepared under the lock and carried out by the flusher.

    Everything the database gets is captured while deciding (rows, not references to the core),
    so the flusher writes what the step saw however far the core has moved on since.
    """

    outbox: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    """Statements on the call and callback ledgers with their parameters, in order."""
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    switch: list[Command] = field(default_factory=list)
    store: Store | None = None
    done: asyncio.Future[None] | None = None

    @property
    def writes(self) -> bool:
        """Whether the step has anything for the database."""
        return bool(self.outbox or self.ledger or self.agents or self.store is not None)


def _settle(done: asyncio.Future[None] | None, error: BaseException | None) -> None:
    """Tell a waiting step its work is done (or why it failed)."""
    if done is None or done.done():
        return
    if error is None:
        done.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        done.cancel()
    else:
        done.set_exception(error)


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
        self._dialect = db.engine.dialect.name
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
        self._pending: collections.deque[_Work] = collections.deque()
        self._flush_wanted = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._saved_agents: dict[str, dict[str, Any]] = {}
        """Each agent's state row as last committed, so an unchanged state is not rewritten."""
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
        """Ask the core (``decide``) under the lock, then carry out what it returns.

        Deciding is serial; carrying out is not done under the lock: the step's writes are
        queued (in decision order) for the flusher, which commits the steps queued meanwhile in
        one transaction and only then sends their FreeSWITCH commands, so an event is always
        committed before its effect can be seen. ``store`` writes what the change needs kept
        (configuration) in the same transaction, in the same order as the decisions.

        A caller (the API, a timer) waits until the step is committed and FreeSWITCH has
        accepted its commands. FreeSWITCH's own events (``from_switch``) do not wait, so the
        next event is decided while this one is written (unless the queue is long: then they
        wait too, so a slow database slows the events down instead of piling them up). Once a
        stopping instance has settled, FreeSWITCH's news is left to the next one
        (``from_switch`` steps do nothing): it reconciles from the live channels.
        """
        async with self._lock:
            if from_switch and not self._listening:
                return []
            commands = decide()
            wait = not from_switch or len(self._pending) >= MAX_UNWRITTEN_STEPS
            done = self._queue(commands, store, wait=wait)
        if done is not None:
            await done
        return commands

    async def flushed(self) -> None:
        """Return once every step decided so far is committed (what the database says is
        then all the core has decided, for a restore that reads it back)."""
        done = self._queue([])
        if done is not None:
            await done

    def _queue(
        self, commands: Sequence[Command], store: Store | None = None, *, wait: bool = True
    ) -> asyncio.Future[None] | None:
        """Prepare a decision's work (under the lock) and queue it for the flusher.

        Return a future for its completion when someone will ``wait`` for it.
        """
        work = self._prepare(commands, store)
        if wait:
            work.done = asyncio.get_running_loop().create_future()
        self._pending.append(work)
        self._flush_wanted.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_forever(), name="routing-flusher")
        return work.done

    def _prepare(self, commands: Sequence[Command], store: Store | None) -> _Work:
        """Split a decision by where it goes, capturing the rows to write as they are now."""
        work = _Work(store=store)
        agents: set[str] = set()
        for command in commands:
            if isinstance(command, PublishEvent):
                work.outbox.append(self.outbox.encoded_row(command.encoded(tenant=self.tenant)))
                work.ledger += store_module.ledger_entries(
                    self.tenant, self._dialect, command, self.acd.call_view
                )
                if command.agent_id is not None:
                    agents.add(command.agent_id)
            elif isinstance(command, ReportProblem):
                self._report(command)
            else:
                work.switch.append(command)
                if isinstance(command, BridgeCall):
                    self._note_bridge(work, command)
                elif isinstance(command, HangupCall):
                    self._note_hangup(work, command)
        for agent_id in sorted(agents):
            row = self._agent_row(agent_id)
            if row is not None:
                work.agents[agent_id] = row
        return work

    async def _flush_forever(self) -> None:
        """Carry out queued work: one transaction for all of it, then its commands, in order."""
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            while self._pending:
                group = self._take_group()
                try:
                    await self._persist(group)
                except BaseException as exc:
                    for work in group:
                        _settle(work.done, exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    # The core moved on; its commands are not sent (nothing unrecorded is
                    # done), and a restart rebuilds from the switch and the last commit.
                    log.exception("routing.write_failed", steps=len(group))
                    continue
                for work in group:
                    accepted = self._send(work.switch)
                    if work.done is not None:
                        self._when_accepted(accepted, work.done)
                self._wake.set()

    def _when_accepted(
        self, accepted: list[asyncio.Future[None]], done: asyncio.Future[None]
    ) -> None:
        """Settle ``done`` once FreeSWITCH has answered every command of the step."""
        if not accepted:
            _settle(done, None)
            return
        gathered = asyncio.gather(*accepted)
        gathered.add_done_callback(lambda _: _settle(done, None))

    def _take_group(self) -> list[_Work]:
        """Take the queued work that shares one transaction: all of it up to a ``store`` step.

        A step that writes configuration goes alone, so a refused write fails only its step.
        """
        pending = self._pending
        if pending[0].store is not None:
            return [pending.popleft()]
        group: list[_Work] = []
        while pending and pending[0].store is None:
            group.append(pending.popleft())
        return group

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

    async def _persist(self, group: Sequence[_Work]) -> None:
        """Write the group's events, ledgers and agent states in one transaction.

        Events go to the outbox in one statement, in decision order; ledger statements run in
        order (consecutive same statements as one executemany); each agent's latest state is
        written once, and only when it differs from what was last committed.
        """
        outbox = [row for work in group for row in work.outbox]
        ledger = [entry for work in group for entry in work.ledger]
        agents: dict[str, dict[str, Any]] = {}
        for work in group:
            agents.update(work.agents)
        changed = [
            row
            for agent_id, row in sorted(agents.items())
            if self._saved_agents.get(agent_id) != row
        ]
        store = group[0].store
        if not (outbox or ledger or changed or store is not None):
            return
        async with self.db.session() as session:
            await store_module.write(
                session,
                self.outbox,
                events=outbox,
                ledger=ledger,
                agent_states=changed,
                store=store,
            )
        for row in changed:
            self._saved_agents[row["agent_id"]] = row
        self.relay.notify()

    def _note_bridge(self, work: _Work, bridge: BridgeCall) -> None:
        """Note the bridge in the ledger before asking for it (see ``bridge_requested``)."""
        view = self.acd.call_view(bridge.call_id)
        if view is None or view.status != "connecting":
            return  # a callback's bridge: the customer answered, the call is already answered
        at = self.acd.offer_answered_at(bridge.offer_id)
        entry = store_module.bridge_requested(
            self.tenant, bridge.call_id, bridge.agent_id, bridge.offer_id, at
        )
        work.ledger.append(entry)

    def _note_hangup(self, work: _Work, hangup: HangupCall) -> None:
        """Note a CRM's hang-up cause in the ledger with the step that sends it."""
        view = self.acd.call_view(hangup.call_id)
        if view is not None and view.hangup_requested is not None:
            cause = view.hangup_requested
            entry = store_module.hangup_requested(self.tenant, hangup.call_id, cause)
            work.ledger.append(entry)

    def _agent_row(self, agent_id: str) -> dict[str, Any] | None:
        try:
            view = self.acd.agent_view(agent_id)
        except Exception:  # removed in this very step
            return None
        return store_module.agent_state_row(self.tenant, view)

    def _send(self, commands: Sequence[Command]) -> list[asyncio.Future[None]]:
        """Write the commands' ESL lines with bgapi, in order, without awaiting any reply.

        Each bgapi's bytes are written when its task first runs, and tasks run in the order
        they were made, so commands reach FreeSWITCH in decision order; the replies (matched by
        Job-UUID) are awaited by a watcher, never by the next step. Return one future per line,
        done once FreeSWITCH has answered it (or the line failed).
        """
        client = self._esl
        if client is None or not client.connected:
            if commands:
                log.warning("routing.switch_unavailable", command=type(commands[0]).__name__)
            return []
        loop = asyncio.get_running_loop()
        accepted: list[asyncio.Future[None]] = []
        for command in commands:
            for line in to_esl(command, dialplan=self._dialplan, gateway_template=self._gateway):
                answered: asyncio.Future[None] = loop.create_future()
                accepted.append(answered)
                self._spawn(self._sent(command, line, client.bgapi(line), answered))
        return accepted

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _sent(
        self,
        command: Command,
        line: str,
        reply: Awaitable[Any],
        answered: asyncio.Future[None],
    ) -> None:
        """Await one command's reply; watch originates and bridges until their job ends."""
        try:
            job = await reply
        except Exception as exc:  # the reconnect's reconciliation repairs what was lost
            log.warning("routing.command_failed", command=line.split(" ", 1)[0], error=repr(exc))
            return
        finally:
            _settle(answered, None)
        if isinstance(command, OfferCall | DialCustomer | BridgeCall):
            await self._job_done(job, command)

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
        self._saved_agents.clear()  # the rebuilt core's states are all written afresh
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
        """Ask FreeSWITCH for the events routing needs (restored by the client on reconnect).

        The dialer shares this connection (filters hold for the whole connection), so its
        machine-detection event passes too; its legs carry ``cc_role`` like routing's.
        """
        await client.events(ROUTING_FORMAT, *ROUTING_EVENTS)
        for header, value in (*ROUTING_FILTERS, ("Event-Subclass", AVMD_BEEP)):
            await client.filter(header, value)

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
            self._spawn(self._forget_hangup(happened.call_id))

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
                    done = self._queue(self.acd.stop_ringing(self.now()))
                    self._listening = False
                    break
            # Polled: this runs once, at shutdown, and each confirmation is an ordinary event.
            await asyncio.sleep(0.02)
        if done is not None:  # the cancels are sent and every bridge asked for is in the ledger
            await done

    async def close(self) -> None:
        """Stop timers, the flusher and job watchers."""
        tasks = [t for t in (self._timer_task, self._flusher, *self._jobs) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
