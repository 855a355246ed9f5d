"""The dialer inside the routing service: one :class:`DialerRuntime` per running campaign.

Started by :class:`cc_routing.service.RoutingService` once routing is live, so only the instance
holding routing's lease dials (a standby never gets here). The campaigns' state lives in the
database (the dialer API changes it), so the service looks every second: a campaign started
gets a runtime on routing's event connection (``bgapi`` only, like routing's own commands); a
campaign paused or stopped dials no more, and its runtime goes once its calls in progress are
over. Agents come from routing's ACD (:class:`RoutingAgents`): a customer who answers goes to
an agent routing holds as available, who is then on a call in routing until their leg ends. An
agent who also serves queues is blended (:class:`InboundGuard`, the rule in
:mod:`cc_routing.dialer.blending`): outbound takes them only while those queues meet their
service level.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from cc_common.db import Outbox
from cc_common.esl import InboundClient
from cc_common.logging import get_logger
from cc_proto import EventData, make_event
from cc_routing.core import RoutingError
from cc_routing.dialer.blending import (
    DEFAULT_RULE,
    BlendRule,
    InboundQueue,
    keeping_queues,
    may_take,
)
from cc_routing.dialer.calls import AdoptedCall
from cc_routing.dialer.campaigns import CampaignConfig, CampaignState
from cc_routing.dialer_reconcile import ended_meanwhile, live_answered, read_recovery, settle_gone
from cc_routing.dialer_runtime import DialerRuntime, Publisher
from cc_routing.dialer_store import DialerStore, NotFound
from cc_routing.runtime import RoutingRuntime

log = get_logger(__name__)

RECOVERY_RETRY_SECONDS = 1.0
"""How soon a recovery that failed (the database or the switch away a moment) is tried again."""
POLL_SECONDS = 1.0
"""How often the campaigns' states are read: a start or stop takes effect within this."""
DRAIN_SECONDS = 2.0
"""How long a stopping service lets the grace of answered customers run out (2-second rule)."""


class InboundGuard:
    """Which blended agents inbound keeps now, for every campaign of the tenant (one hysteresis).

    Which queues an agent serves and each queue's live figures (callers waiting, the oldest
    wait, service level against its threshold and target) come from routing's ACD at each
    decision, so a tier or threshold changed through the API counts at once.
    """

    def __init__(self, routing: RoutingRuntime, rule: BlendRule = DEFAULT_RULE) -> None:
        self.routing = routing
        self.rule = rule
        self.keeping: frozenset[str] = frozenset()
        """the queues keeping their blended agents at the last look"""

    def kept(self, agent_ids: Collection[str]) -> set[str]:
        """Of ``agent_ids``, those whose inbound queues keep them from outbound now."""
        serves = {agent: self._serves(agent) for agent in agent_ids}
        served = {queue for queues in serves.values() for queue in queues}
        if not served:
            return set()
        now_keeping = keeping_queues(self._inbound(served), self.keeping, self.rule)
        self.keeping = (self.keeping - served) | now_keeping  # a queue gone keeps nobody
        return {a for a in agent_ids if not may_take(serves[a], self.keeping)}

    def _serves(self, agent_id: str) -> frozenset[str]:
        try:
            return self.routing.acd.agent_queues(agent_id)
        except RoutingError:
            return frozenset()  # removed meanwhile

    def _inbound(self, names: Collection[str]) -> list[InboundQueue]:
        acd, now = self.routing.acd, self.routing.now()
        found = []
        for name in names:
            try:
                status = acd.queue_status(name, now)
            except RoutingError:
                continue  # a tier naming a queue not configured (yet)
            found.append(
                InboundQueue(
                    name=name,
                    waiting=status.calls,
                    oldest_wait_seconds=status.oldest_wait_seconds,
                    threshold_seconds=status.service_level_threshold_seconds,
                    target=status.service_level_target,
                    service_level=status.service_level,
                )
            )
        return found


class RoutingAgents:
    """A campaign's agents as routing's ACD holds them (the pool of a blended agent)."""

    def __init__(
        self, routing: RoutingRuntime, config: CampaignConfig, inbound: InboundGuard | None = None
    ) -> None:
        self.routing = routing
        self.config = config
        self.inbound = inbound

    async def free(self) -> dict[str, str]:
        """The campaign's agents (by id or team) available in routing now, with their contacts,
        but for those their inbound queues keep (blending)."""
        free = self.routing.acd.outbound_free(set(self.config.agents), set(self.config.teams))
        kept = self.kept(free)
        return {agent: contact for agent, contact in free.items() if agent not in kept}

    def kept(self, agent_ids: Collection[str]) -> set[str]:
        """Of ``agent_ids``, those inbound keeps now: not free for outbound, nor counted by the
        pacer as coming free after their call."""
        return self.inbound.kept(agent_ids) if self.inbound is not None else set()

    async def take(self, agent_id: str) -> bool:
        """On a call in routing (published and stored), unless a queue reserved them first."""
        campaign = self.config.name
        try:
            await self.routing.step(
                lambda: self.routing.acd.take_for_outbound(agent_id, campaign, self.routing.now())
            )
        except RoutingError:
            return False
        return True

    async def release(self, agent_id: str) -> None:
        """Their outbound leg ended: the campaign's wrap-up (for the disposition), then
        available again (or the break or logout they asked for)."""
        await self.hand_back(self.routing, agent_id, self.config.wrap_up_seconds)

    @staticmethod
    async def hand_back(
        routing: RoutingRuntime, agent_id: str, wrap_up_seconds: float | None = None
    ) -> None:
        """An agent's outbound call is over: after wrap-up (the agent's own unless given),
        routing may offer them work again."""
        await routing.step(
            lambda: routing.acd.outbound_ended(
                agent_id, routing.now(), wrap_up_seconds=wrap_up_seconds
            )
        )


def outbox_publisher(routing: RoutingRuntime) -> Publisher:
    """Publish ``dialer.*`` events through routing's outbox: stored first, then relayed."""
    outbox: Outbox = routing.outbox

    async def publish(data: EventData, at: float) -> None:
        envelope = make_event(
            data, tenant=routing.tenant, occurred_at=datetime.fromtimestamp(at, UTC)
        )
        async with routing.db.session() as session:
            await outbox.add(session, envelope)
        routing.relay.notify()

    return publish


class DialerService:
    """Keeps a runtime for every running campaign of the tenant while routing leads."""

    def __init__(
        self,
        routing: RoutingRuntime,
        client: InboundClient,
        *,
        api: InboundClient | None = None,
        dial_string: Callable[[str], str],
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.routing = routing
        self.client = client
        self.api = api
        """Routing's connection for queries (channel listing, hangup notes): the recovery's."""
        self.recovered = False
        """Whether the calls a previous leader left have been settled or adopted."""
        self.store = DialerStore(routing.db, routing.tenant)
        self.dial_string = dial_string
        self.poll_seconds = poll_seconds
        self.publish = outbox_publisher(routing)
        self.inbound = InboundGuard(routing)
        """Blending: which agents their inbound queues keep from every campaign."""
        self.running: dict[str, DialerRuntime] = {}
        self.draining: list[DialerRuntime] = []
        self.looks = 0
        """How many times the campaigns' states have been read and acted on."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start following the campaigns' states in the background."""
        self._task = asyncio.create_task(self._run(), name="dialer")

    async def _run(self) -> None:
        while not self.recovered:
            try:
                await self.recover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # nothing dials until the last leader's calls are known
                log.warning("dialer.recovery_failed", error=f"{type(exc).__name__}: {exc}")
                await self._stop_runtimes()  # the next try adopts afresh what is still live
                await asyncio.sleep(RECOVERY_RETRY_SECONDS)
        while True:
            try:
                await self.follow_campaigns()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away a moment: look again
                log.warning("dialer.follow_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.poll_seconds)

    async def follow_campaigns(self) -> None:
        """Start runtimes for running campaigns; stop dialling the others; end drained ones."""
        campaigns = {
            config.name: (config, state) for config, state in await self.store.list_campaigns()
        }
        for name, (config, state) in campaigns.items():
            runtime = self.running.get(name)
            if state is not CampaignState.RUNNING:
                continue
            if runtime is None:
                await self._start(config)
            elif isinstance(runtime.pool, RoutingAgents):
                runtime.pool.config = config  # agents or teams changed
        for name in list(self.running):
            now = campaigns.get(name)
            if now is None or now[1] is not CampaignState.RUNNING:
                runtime = self.running.pop(name)
                runtime.stop_dialling()
                self.draining.append(runtime)
                log.info("dialer.campaign_stopped", campaign=name, state=now and now[1])
        for runtime in [r for r in self.draining if r.idle]:
            self.draining.remove(runtime)
            await runtime.stop()
        self.looks += 1

    async def _start(
        self, config: CampaignConfig, adopted: list[AdoptedCall] | None = None
    ) -> DialerRuntime:
        runtime = DialerRuntime(
            self.store,
            config.name,
            RoutingAgents(self.routing, config, self.inbound),
            dial_string=self.dial_string,
            publish=self.publish,
        )
        await runtime.start(self.client, adopted or [])
        self.running[config.name] = runtime
        log.info("dialer.campaign_started", campaign=config.name, mode=config.mode)
        return runtime

    async def recover(self) -> None:
        """Settle or adopt the calls a previous leader left (:mod:`cc_routing.dialer_reconcile`).

        Runs once, before any campaign dials. Adopted calls go to their campaign's runtime
        (draining unless the campaign runs); a second look at the switch after adoption tells
        the floors what ended or answered in between, since no floor heard those events.
        """
        if self.api is None:
            self.recovered = True
            return
        plan = await read_recovery(self.api, await self.store.dialing_leads())
        adopted: list[tuple[DialerRuntime, AdoptedCall]] = []
        for campaign, calls in plan.adopted.items():
            runtime = await self._adopting_runtime(campaign, calls)
            adopted += [(runtime, call) for call in calls]
        for leg in plan.strays:
            await self.api.api(f"uuid_kill {leg} NORMAL_CLEARING")
        for lead_id, outcome in (await settle_gone(self.api, plan.gone)).items():
            lead = next(lead for lead in plan.gone if lead.lead_id == lead_id)
            try:
                await self.store.record_outcome(lead.campaign, lead_id, outcome)
            except NotFound:
                continue  # its campaign or lead was removed meanwhile
        legs = [leg for _runtime, call in adopted for leg in (call.leg, call.agent_leg) if leg]
        answered = await live_answered(self.api, legs)
        for runtime, call in adopted:
            for happened in ended_meanwhile(call, answered):
                await runtime.handle(happened, self.routing.now())
        await self._hand_back_agents()
        self.recovered = True
        log.info(
            "dialer.recovered",
            adopted=len(adopted),
            settled=len(plan.gone),
            hung_up=len(plan.strays),
        )

    def link_lost(self) -> None:
        """The link to the switch dropped and is back: no campaign dials until :meth:`resync`."""
        for runtime in [*self.running.values(), *self.draining]:
            runtime.in_step = False

    async def resync(self) -> None:
        """After routing's own re-sync: every campaign learns what the outage hid from it.

        Before the recovery has run there is nothing to re-sync: it reads the switch afresh.
        """
        if not self.recovered or self.api is None:
            return
        for runtime in [*self.running.values(), *self.draining]:
            await runtime.resync(self.api)

    async def _stop_runtimes(self) -> None:
        runtimes = [*self.running.values(), *self.draining]
        self.running.clear()
        self.draining.clear()
        for runtime in runtimes:
            await runtime.stop()

    async def _adopting_runtime(self, campaign: str, calls: list[AdoptedCall]) -> DialerRuntime:
        """A runtime for a campaign with calls to adopt: dialling only if the campaign runs."""
        config, state = await self.store.get_campaign(campaign)
        runtime = await self._start(config, calls)
        if state is not CampaignState.RUNNING:
            self.running.pop(config.name, None)
            runtime.stop_dialling()
            self.draining.append(runtime)
        return runtime

    async def _hand_back_agents(self) -> None:
        """Agents routing restored as on a dialer call that no adopted call holds are free."""
        held = {
            agent
            for runtime in [*self.running.values(), *self.draining]
            for agent in runtime.held_agents()
        }
        for agent_id in self.routing.acd.outbound_agents():
            if agent_id not in held:
                await RoutingAgents.hand_back(self.routing, agent_id)

    async def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Dial no more; give answered customers their grace; then stop every runtime."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        runtimes = [*self.running.values(), *self.draining]
        self.running.clear()
        self.draining.clear()
        for runtime in runtimes:
            runtime.stop_dialling()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_seconds
        while True:
            if not any(r.waiting for r in runtimes) or loop.time() >= deadline:
                break
            # Polled: this runs once, at shutdown; the grace ends on the runtimes' own ticks.
            await asyncio.sleep(0.05)
        for runtime in runtimes:
            await runtime.stop()
