"""The dialer as the routing service runs it: a campaign started through the API is dialled by
the leader, an answering customer reaches an agent routing holds as available, that agent is on
a call in routing (a queued inbound caller waits for them), outcomes are recorded on the leads,
a stopped campaign dials nothing more, and a standby dials nothing (simulator or real switch,
real PostgreSQL and RabbitMQ).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cc_common.db import Database
from cc_common.esl import InboundClient
from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_proto.events import DialerAttempted, DialerConnected
from cc_routing.adapters import dialer_db as t
from cc_routing.app import create_app
from cc_routing.dialer.calls import LegState, customer_leg
from cc_routing.dialer_service import DialerService
from cc_routing.dialer_store import DialerStore
from cc_routing.reconcile import read_live_channels
from cc_routing.service import RoutingService
from cc_routing.settings import RoutingSettings
from cc_routing.testing import (
    AGENT_AT_ONCE,
    EslProxy,
    Published,
    RoutingProcess,
    call_in,
    routing_settings,
    wait_ready,
    watch,
)
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.simulator import Simulator
from cc_sim.switches import SwitchEndpoint, free_port, switch_kinds

pytestmark = pytest.mark.integration

TENANT = "outbound"
# Customers by their E.164 numbers (routing dials loopback/<number>/default here); the real
# test switch maps +3314268 73xx to its extension 73xx (tests/fs-overlay).
ANSWERS, NEVER, BUSY, BLOCKED = "+33142687301", "+33142687302", "+33142687331", "+33142687399"
LATER = "+33142687321"
SLOW = "+33142687323"  # rings 20 s, then answers
SIM_ROUTES = (
    ("default", ANSWERS, tuple(parse_actions("sleep:1000;answer;park"))),
    ("default", NEVER, tuple(parse_actions("park"))),
    ("default", BUSY, tuple(parse_actions("hangup:USER_BUSY"))),
    ("default", LATER, tuple(parse_actions("ring_ready;sleep:2000;answer;park"))),
    ("default", SLOW, tuple(parse_actions("ring_ready;sleep:20000;answer;park"))),
)
CAMPAIGN = {
    "name": "renewals",
    "mode": "progressive",
    "agents": ["a1"],
    "caller_id": "+33100000000",
    "calling_window": {"start": "00:00", "end": "23:59:59"},
    "retries": {
        "busy": {"delay_seconds": 3600, "max_attempts": 3},
        "no_answer": {"delay_seconds": 3600, "max_attempts": 3},
    },
    "dispositions": ["sale", "no_sale", "dnc"],
    "wrap_up_seconds": 2,
}


@contextlib.asynccontextmanager
async def switch_endpoint(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if kind == "sim":
        async with Simulator(SimConfig(esl_port=0, routes=SIM_ROUTES)) as sim:
            yield SwitchEndpoint("sim", "127.0.0.1", sim.esl_port)
        return
    real = request.getfixturevalue("real_switch")
    try:
        yield real.endpoint
    finally:
        real.cli("hupall NORMAL_CLEARING")


@contextlib.asynccontextmanager
async def instance(settings: RoutingSettings) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://routing") as client:
        yield client, app


def service_of(app: FastAPI) -> RoutingService:
    service: RoutingService = app.state.routing
    return service


@pytest.fixture
async def heard(make_rabbit_bus: Any, unique_name: Callable[[str], str]) -> tuple[str, Published]:
    """A fresh exchange for routing, and everything published on it."""
    exchange = unique_name("ex")
    bus = await make_rabbit_bus(exchange=exchange)
    published = Published()
    await bus.consume(unique_name("dialer-e2e"), bindings=["#"], handler=published)
    return exchange, published


@dataclass(frozen=True)
class Outbound:
    """A fresh tenant and exchange for one routing instance, and what it publishes."""

    published: Published
    tenant: str
    pg_url: str
    settings: Callable[[Any], RoutingSettings]
    """Routing's settings on a switch endpoint, dialling loopback/<number>."""


@pytest.fixture
def outbound(
    pg_url: str, amqp_url: str, heard: tuple[str, Published], unique_name: Callable[[str], str]
) -> Outbound:
    exchange, published = heard
    tenant = unique_name("t")[:40]

    def settings(endpoint: Any) -> RoutingSettings:
        return routing_settings(
            endpoint, tenant=tenant, pg_url=pg_url, amqp_url=amqp_url, exchange=exchange
        ).model_copy(update={"routing_dialer_dial": "loopback/{number}/default"})

    return Outbound(published, tenant, pg_url, settings)


async def ok(reply: Any) -> dict[str, Any]:
    response = await reply
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("kind", switch_kinds())
async def test_routing_dials_a_running_campaign_and_its_agent_is_busy_in_routing(
    kind: str,
    request: pytest.FixtureRequest,
    pg_url: str,
    amqp_url: str,
    heard: tuple[str, Published],
) -> None:
    exchange, published = heard

    async with switch_endpoint(kind, request) as endpoint:
        settings = routing_settings(
            endpoint, tenant=TENANT, pg_url=pg_url, amqp_url=amqp_url, exchange=exchange
        ).model_copy(
            update={"routing_lease": True, "routing_dialer_dial": "loopback/{number}/default"}
        )
        async with (
            instance(settings) as (api, app),
            instance(settings) as (_standby_api, standby_app),
            watch(endpoint) as (client, switch_log),
        ):
            await eventually(lambda: service_of(app).live.is_set(), within=30)
            leader, standby = service_of(app), service_of(standby_app)
            assert not standby.live.is_set()  # the lease is the first instance's

            # An agent who serves queue "support" and the campaign.
            await ok(api.put("/v1/queues/support", json={"name": "support"}))
            agent = {"agent_id": "a1", "contact": AGENT_AT_ONCE, "tiers": {"support": {}}}
            await ok(api.put("/v1/agents/a1", json=agent))
            await ok(api.post("/v1/agents/a1/login", json={}))

            # The campaign and its list, all through the API.
            await ok(api.put("/v1/campaigns/renewals", json=CAMPAIGN))
            list_body = {"campaign": "renewals", "default_region": "FR"}
            await ok(api.put("/v1/lists/l1", json=list_body))
            csv = "phone\n" + "\n".join([ANSWERS, NEVER, BUSY, BLOCKED]) + "\n"
            imported = await ok(api.post("/v1/lists/l1/imports", content=csv.encode()))
            assert imported["accepted"] == 4
            await ok(api.post("/v1/do-not-call", json={"numbers": [BLOCKED], "region": "FR"}))
            await ok(api.post("/v1/campaigns/renewals/start"))

            # The answering customer reaches a1, who is on a call in routing meanwhile.
            connected = await _dialer_event(published, DialerConnected)
            assert connected.wait_seconds <= 2.0
            view = (await api.get("/v1/agents/a1")).json()
            assert view["state"] == "on_call", view
            assert view["reason"] == "outbound:renewals"
            # An inbound caller meanwhile waits: a1 is not offered to them while on the call.
            caller = await call_in(client)
            await eventually(lambda: len(switch_log.callers) == 1, within=30)
            queued = switch_log.callers[0]
            await eventually(lambda: published.of("call.queued", queued) != [], within=30)
            assert published.of("call.agent_offered", queued) == []
            customer = _connected_leg(leader)
            await client.bgapi(f"uuid_kill {customer} NORMAL_CLEARING")  # the customer hangs up
            # a1 wraps up first (the campaign's 2 s, for the disposition): no offer meanwhile.
            await _until_equal(partial(_agent_state, api, "a1"), "wrap_up", within=30)
            assert published.of("call.agent_offered", queued) == []
            # Then free, a1 is offered the inbound caller (blended: one kind of work at a time).
            await eventually(lambda: published.of("call.answered", queued) != [], within=30)
            await client.bgapi(f"uuid_kill {caller} NORMAL_CLEARING")
            await eventually(lambda: published.of("call.ended", queued) != [], within=30)

            # Every lead dialled but the blocked one; outcomes on the leads by the switch.
            expected = {ANSWERS: "connected", NEVER: "no_answer", BUSY: "busy"}
            store = DialerStore(Database(pg_url, schemas=["routing"]), TENANT)
            try:
                await eventually(lambda: _settled(leader) >= len(expected), within=90, poll=0.2)
                dialled = [d.number for d in _data(published, DialerAttempted)]
                assert sorted(dialled) == sorted(expected)
                outcomes = {}
                for lead_id in await _lead_ids(store, "l1"):
                    lead = await store.lead(lead_id)
                    outcomes[lead["number"]] = (lead["status"], lead["last_outcome"])
                assert outcomes[ANSWERS] == ("done", "connected")
                assert outcomes[NEVER] == ("ready", "no_answer")  # again in an hour
                assert outcomes[BUSY] == ("ready", "busy")
                # Never dialled: checked at dial time, it is closed as do-not-call once the
                # dialer reaches it (or still waits, if the dialer had no turn for it yet).
                assert outcomes[BLOCKED] in {("ready", None), ("dnc", "dnc")}
                # The agent's disposition on the lead, through the API.
                disposed = await ok(
                    api.post(
                        f"/v1/leads/{connected.lead_id}/outcome",
                        json={
                            "campaign": "renewals",
                            "outcome": "connected",
                            "disposition": "sale",
                        },
                    )
                )
                assert disposed["status"] == "done"
                assert (await api.get("/v1/agents/a1")).json()["state"] == "available"

                # Stopped: the campaign's runtime goes; a lead due now is not dialled ...
                await ok(api.post("/v1/campaigns/renewals/stop"))
                dialer = leader.dialer
                assert dialer is not None
                await eventually(lambda: not dialer.running and not dialer.draining, within=30)
                more = await ok(
                    api.post("/v1/lists/l1/imports", content=f"phone\n{LATER}\n".encode())
                )
                assert more["accepted"] == 1
                looked = dialer.looks
                await eventually(lambda: dialer.looks >= looked + 3, within=30)
                assert LATER not in [d.number for d in _data(published, DialerAttempted)]
                # ... until the campaign runs again (the lead was dialable all along).
                await ok(api.post("/v1/campaigns/renewals/start"))
                await eventually(
                    lambda: LATER in [d.number for d in _data(published, DialerAttempted)],
                    within=60,
                )
                assert standby.dialer is None
                assert not standby.live.is_set()
            finally:
                await store.db.dispose()
    attempts = _data(published, DialerAttempted)
    assert len(attempts) == len({(a.lead_id, a.attempt) for a in attempts})  # each dialled once


async def _dialer_event(published: Published, kind: type[Any]) -> Any:
    await eventually(lambda: _data(published, kind) != [], within=120, poll=0.2)
    return _data(published, kind)[0]


def _data(published: Published, kind: type[Any]) -> list[Any]:
    return [e.data for e in published.events if isinstance(e.data, kind)]


def _connected_leg(service: RoutingService, campaign: str = "renewals") -> str:
    dialer = service.dialer
    assert dialer is not None
    runtime = dialer.running[campaign]
    assert runtime.floor is not None
    (leg,) = [leg for leg, c in runtime.floor.legs.items() if c.state is LegState.CONNECTED]
    return leg


def _settled(service: RoutingService) -> int:
    dialer = service.dialer
    assert dialer is not None
    return sum(len(r.settled) for r in [*dialer.running.values(), *dialer.draining])


async def _lead_ids(store: DialerStore, list_id: str) -> list[str]:
    async with store.db.session() as session:
        rows = await session.execute(
            select(t.leads.c.lead_id).where(
                t.leads.c.tenant == store.tenant, t.leads.c.list_id == list_id
            )
        )
        return [row.lead_id for row in rows]


@dataclass(frozen=True)
class DialerCall:
    """An outbound call on the switch: the customer's leg, the agent's leg and the agent."""

    customer: str
    agent_leg: str
    agent: str


async def _dialer_calls(client: InboundClient) -> dict[str, DialerCall]:
    """The switch's connected dialer calls by lead (the dialer's own legs, as routing reads)."""
    live = await read_live_channels(client)
    customers = {c.uuid: c for c in live if c.role == "dialer_customer"}
    calls = {}
    for agent in (c for c in live if c.role == "dialer_agent"):
        customer = customers.get(agent.variables.get("cc_dialer_customer", ""))
        if customer is not None:
            lead = customer.variables["cc_lead"]
            calls[lead] = DialerCall(customer.uuid, agent.uuid, agent.variables["cc_agent"])
    return calls


async def _agent_state(api: httpx.AsyncClient, agent_id: str) -> str:
    state: str = (await api.get(f"/v1/agents/{agent_id}")).json()["state"]
    return state


async def _has_call(client: InboundClient, lead_id: str) -> bool:
    return lead_id in await _dialer_calls(client)


async def _standing_by(process: RoutingProcess) -> bool:
    """Up, and not ready because another instance holds the lease."""
    return not await process.ready() and "lease" in process.last_answer


async def _until_equal(
    get: Callable[[], Awaitable[Any]], expected: Any, within: float = 30
) -> None:
    """Wait until ``await get()`` equals ``expected`` (then the last value is shown on failure)."""
    last: Any = None
    try:
        async with asyncio.timeout(within):
            while (last := await get()) != expected:
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{last!r} != {expected!r} after {within} s") from None


RESTART_AGENTS = ("a1", "a2", "a3")


async def _campaign_on(
    api: httpx.AsyncClient, name: str, agents: Sequence[str], numbers: Sequence[str]
) -> None:
    """Queue support with these agents logged in, and a started campaign dialling the numbers
    for them (its list is named after it)."""
    await ok(api.put("/v1/queues/support", json={"name": "support"}))
    for agent_id in agents:
        agent = {"agent_id": agent_id, "contact": AGENT_AT_ONCE, "tiers": {"support": {}}}
        await ok(api.put(f"/v1/agents/{agent_id}", json=agent))
        await ok(api.post(f"/v1/agents/{agent_id}/login", json={}))
    await ok(api.put(f"/v1/campaigns/{name}", json={**CAMPAIGN, "name": name, "agents": agents}))
    await ok(api.put(f"/v1/lists/{name}", json={"campaign": name, "default_region": "FR"}))
    csv = "phone\n" + "\n".join(numbers) + "\n"
    await ok(api.post(f"/v1/lists/{name}/imports", content=csv.encode()))
    await ok(api.post(f"/v1/campaigns/{name}/start"))


async def _two_talking(
    published: Published, client: InboundClient, numbers: Sequence[str]
) -> tuple[dict[str, str], dict[str, DialerCall]]:
    """Wait until the first two numbers talk to agents (the third rings): leads by number, and
    the switch's connected calls by lead."""
    await eventually(lambda: len(_data(published, DialerConnected)) == 2, within=60)
    leads = {a.number: a.lead_id for a in _data(published, DialerAttempted)}
    assert sorted(leads) == sorted(numbers)
    for number in numbers[:2]:  # the switch's listing may lag a moment
        await _until_equal(partial(_has_call, client, leads[number]), True)
    return leads, await _dialer_calls(client)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
@pytest.mark.parametrize("kind", switch_kinds())
async def test_outbound_calls_survive_a_routing_restart_and_every_lead_is_settled_once(
    kind: str,
    how: signal.Signals,
    request: pytest.FixtureRequest,
    pg_url: str,
    amqp_url: str,
    make_rabbit_bus: Any,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """The routing leader (a real process) stops with two customers talking to agents and one
    ringing; the standby takes over.

    While no instance leads, one customer hangs up. The new leader must leave the other conversation
    alone with its agent busy, settle the ended one as connected (from the note its leg left)
    with its agent free, and connect the ringing one when it answers: no lead left dialling,
    none dialled again.
    """
    exchange = unique_name("ex")
    bus = await make_rabbit_bus(exchange=exchange)
    published = Published()
    await bus.consume(unique_name("dialer-restart"), bindings=["#"], handler=published)
    tenant = unique_name("t")[:40]
    auth = {"Authorization": f"Bearer {TEST_SERVICE_TOKEN}"}

    async with switch_endpoint(kind, request) as endpoint, watch(endpoint) as (client, _log):
        env = {
            **os.environ,
            "CC_TENANT": tenant,
            "CC_DATABASE_URL": pg_url,
            "CC_AMQP_URL": amqp_url,
            "CC_BUS_EXCHANGE": exchange,
            "CC_ESL_HOST": endpoint.host,
            "CC_ESL_PORT": str(endpoint.esl_port),
            "CC_ESL_PASSWORD": endpoint.password,
            "CC_ROUTING_LEASE": "true",
            "CC_ROUTING_DIALER_DIAL": "loopback/{number}/default",
            "CC_SERVICE_TOKEN": TEST_SERVICE_TOKEN,
            "CC_LOG_LEVEL": "INFO",
        }
        first = RoutingProcess("first", env, tmp_path / "first.log", free_port())
        second = RoutingProcess("second", env, tmp_path / "second.log", free_port())
        store = DialerStore(Database(pg_url, schemas=["routing"]), tenant)

        def http(process: RoutingProcess) -> httpx.AsyncClient:
            base = f"http://127.0.0.1:{process.port}"
            return httpx.AsyncClient(base_url=base, headers=auth, timeout=10)

        async def lead_state(number: str) -> tuple[str, str | None]:
            lead = await store.lead(leads[number])
            return lead["status"], lead["last_outcome"]

        async def agent_state(api: httpx.AsyncClient, agent_id: str) -> tuple[str, str | None]:
            view = (await api.get(f"/v1/agents/{agent_id}")).json()
            return view["state"], view.get("reason")

        try:
            await first.start()
            await wait_ready(first, within=60)
            await second.start()
            await _until_equal(partial(_standing_by, second), True, within=60)
            async with http(first) as api:
                await _campaign_on(api, "recall", RESTART_AGENTS, [ANSWERS, LATER, SLOW])

            # Two customers talk to agents; the third still rings.
            leads, calls = await _two_talking(published, client, [ANSWERS, LATER, SLOW])
            talking, ended = calls[leads[ANSWERS]], calls[leads[LATER]]

            # The standby is held still (as a slow one would be) while the leader goes, so one
            # customer can hang up while no routing runs; their agent's leg ends with them.
            second.kill(signal.SIGSTOP)
            first.kill(how)
            await first.exited()
            assert await lead_state(ANSWERS) == ("dialing", None)  # what the restart must mend
            await client.api(f"uuid_kill {ended.customer} NORMAL_CLEARING")
            second.kill(signal.SIGCONT)
            await wait_ready(second, within=30)
            async with http(second) as api:
                # The ended call is settled as it went: connected; its agent is free again.
                await _until_equal(lambda: lead_state(LATER), ("done", "connected"))
                await _until_equal(partial(agent_state, api, ended.agent), ("available", None))
                # The ongoing conversation is left alone and its agent stays on the call.
                on_call = ("on_call", "outbound:recall")
                assert await agent_state(api, talking.agent) == on_call
                assert await lead_state(ANSWERS) == ("dialing", None)
                # The ringing customer answers now and reaches the free agent.
                await eventually(
                    lambda: (
                        {c.lead_id for c in _data(published, DialerConnected)}
                        == set(leads.values())
                    ),
                    within=60,
                )
                await _until_equal(partial(_has_call, client, leads[SLOW]), True)
                connected = (await _dialer_calls(client))[leads[SLOW]]
                assert await agent_state(api, connected.agent) == on_call
                for leg in (talking.customer, talking.agent_leg):
                    assert (await client.api(f"uuid_exists {leg}")).text.strip() == "true"
                assert await agent_state(api, talking.agent) == on_call

                # Both customers hang up: every lead settled once, every agent free.
                for call in (talking, connected):
                    await client.api(f"uuid_kill {call.customer} NORMAL_CLEARING")
                for number in (ANSWERS, SLOW):
                    await _until_equal(partial(lead_state, number), ("done", "connected"))
                for agent_id in RESTART_AGENTS:
                    await _until_equal(partial(agent_state, api, agent_id), ("available", None))
        finally:
            await first.stop()
            await second.stop()
            await store.db.dispose()
    attempts = _data(published, DialerAttempted)
    assert sorted(a.number for a in attempts) == sorted([ANSWERS, LATER, SLOW])  # once each


# --- blended agents -------------------------------------------------------------------------------

THRESHOLD, WINDOW = 2, 15
"""The queue's service level: answered within 2 s, over the last 15 s (short, so it recovers)."""
WINBACK = {**CAMPAIGN, "name": "winback", "wrap_up_seconds": 1}


@pytest.mark.parametrize("kind", switch_kinds())
async def test_inbound_below_its_service_level_keeps_the_blended_agent_until_it_recovers(
    kind: str, request: pytest.FixtureRequest, outbound: Outbound
) -> None:
    published = outbound.published

    def attempted() -> list[str]:
        return [e.data.number for e in published.events if isinstance(e.data, DialerAttempted)]

    def connected() -> int:
        return sum(isinstance(e.data, DialerConnected) for e in published.events)

    async with (
        switch_endpoint(kind, request) as endpoint,
        instance(outbound.settings(endpoint)) as (api, app),
        watch(endpoint) as (client, switch_log),
    ):
        await eventually(lambda: service_of(app).live.is_set(), within=30)
        service = service_of(app)
        queue = {
            "name": "support",
            "wrap_up_seconds": 0,
            "ring_timeout_seconds": 20,
            "service_level_threshold_seconds": THRESHOLD,
            "service_level_window_seconds": WINDOW,
        }
        await ok(api.put("/v1/queues/support", json=queue))
        agent = {"agent_id": "a1", "contact": AGENT_AT_ONCE, "tiers": {"support": {}}}
        await ok(api.put("/v1/agents/a1", json=agent))
        await ok(api.post("/v1/agents/a1/login", json={}))
        await ok(api.put("/v1/campaigns/winback", json=WINBACK))
        await ok(api.put("/v1/lists/w1", json={"campaign": "winback", "default_region": "FR"}))
        csv = f"phone\n{ANSWERS}\n{LATER}\n"
        assert (await ok(api.post("/v1/lists/w1/imports", content=csv.encode())))["accepted"] == 2
        await ok(api.post("/v1/campaigns/winback/start"))

        # Inbound meets its level (no calls yet): outbound takes a1 for the first customer.
        await eventually(lambda: connected() == 1, within=60, poll=0.1)
        assert attempted() == [ANSWERS]
        view = (await api.get("/v1/agents/a1")).json()
        assert (view["state"], view["reason"]) == ("on_call", "outbound:winback")

        # A caller queues meanwhile and waits beyond the threshold: the queue misses.
        caller = await call_in(client)
        await eventually(lambda: len(switch_log.callers) == 1, within=30)
        queued = switch_log.callers[0]
        await eventually(lambda: _oldest_wait(service) > THRESHOLD, within=30)
        dialer = _dialer_of(service)
        assert dialer.inbound.kept({"a1"}) == {"a1"}

        # The outbound customer hangs up: after the campaign's wrap-up a1 answers inbound.
        leg = _connected_leg(service, "winback")
        await client.bgapi(f"uuid_kill {leg} NORMAL_CLEARING")
        await eventually(lambda: published.of("call.answered", queued) != [], within=30)
        await client.bgapi(f"uuid_kill {caller} NORMAL_CLEARING")
        await eventually(lambda: published.of("call.ended", queued) != [], within=30)
        await eventually(lambda: _agent_now(service, "a1") == ("available", None), within=30)

        # The queue answered its only call late, so it is below target: a1 stays free for
        # inbound, and the dialer places no call for them while it looks again and again.
        status = service.runtime.acd.queue_status("support", service.runtime.now())
        assert status.service_level < status.service_level_target
        looked = dialer.looks
        await eventually(lambda: dialer.looks >= looked + 3, within=30)
        assert attempted() == [ANSWERS]
        assert _agent_now(service, "a1") == ("available", None)

        # Once the late call has left the window the queue is back: a1 is taken again.
        await eventually(lambda: attempted() == [ANSWERS, LATER], within=WINDOW + 30)
        await eventually(lambda: connected() == 2, within=60, poll=0.1)
        assert _agent_now(service, "a1") == ("on_call", "outbound:winback")
        leg = _connected_leg(service, "winback")
        await client.bgapi(f"uuid_kill {leg} NORMAL_CLEARING")


def _dialer_of(service: RoutingService) -> DialerService:
    dialer = service.dialer
    assert dialer is not None
    return dialer


def _oldest_wait(service: RoutingService) -> float:
    status = service.runtime.acd.queue_status("support", service.runtime.now())
    return float(status.oldest_wait_seconds or 0.0)


def _agent_now(service: RoutingService, agent_id: str) -> tuple[str, str | None]:
    view = service.runtime.acd.agent_view(agent_id)
    return view.state, view.reason


# --- a lost link to the switch --------------------------------------------------------------------

RELINK_AGENTS = ("a1", "a2", "a3")


@pytest.mark.parametrize("kind", switch_kinds())
async def test_after_a_lost_link_the_dialer_settles_what_ended_and_follows_what_lives(
    kind: str, request: pytest.FixtureRequest, outbound: Outbound
) -> None:
    """Routing's link to the switch is cut with two customers talking to agents and one
    ringing. While it is down one talking customer hangs up and the ringing one rejects the
    call. When the link is back the dialer must settle both (connected, and a retry for the
    reject) with the agent freed, leave the other conversation alone, and dial nothing twice."""
    published = outbound.published
    store = DialerStore(Database(outbound.pg_url, schemas=["routing"]), outbound.tenant)

    async def lead_state(lead_id: str) -> tuple[str, str | None]:
        lead = await store.lead(lead_id)
        return lead["status"], lead["last_outcome"]

    async with (
        switch_endpoint(kind, request) as endpoint,
        watch(endpoint) as (client, _log),
        cuttable(endpoint) as (proxy, behind),
        instance(outbound.settings(behind)) as (api, app),
    ):
        await eventually(lambda: service_of(app).live.is_set(), within=30)
        service = service_of(app)
        await _campaign_on(api, "relink", RELINK_AGENTS, [ANSWERS, LATER, NEVER])

        # Two customers talk to agents; the third rings.
        leads, calls = await _two_talking(published, client, [ANSWERS, LATER, NEVER])
        ended, talking = calls[leads[ANSWERS]], calls[leads[LATER]]
        ringing = customer_leg(leads[NEVER], 1)
        assert await _live(client, ringing)

        # The link drops. Meanwhile a customer hangs up and the ringing one rejects.
        proxy.cut()
        events = service.events
        assert events is not None
        await eventually(lambda: not events.connected, within=10)
        await client.api(f"uuid_kill {ended.customer} NORMAL_CLEARING")
        await client.api(f"uuid_kill {ringing} CALL_REJECTED")
        for leg in (ended.customer, ended.agent_leg, ringing):
            await _until_equal(partial(_live, client, leg), False)
        assert await lead_state(leads[ANSWERS]) == ("dialing", None)
        proxy.refusing = False
        await eventually(lambda: service.resyncs == 1, within=60)

        # Settled as they went; the agent of the ended call is free after its wrap-up.
        await _until_equal(partial(lead_state, leads[ANSWERS]), ("done", "connected"))
        await _until_equal(partial(lead_state, leads[NEVER]), ("ready", "no_answer"))
        await eventually(lambda: _agent_now(service, ended.agent) == ("available", None), within=30)
        # The other conversation goes on, its agent on the call.
        assert _agent_now(service, talking.agent) == ("on_call", "outbound:relink")
        assert await lead_state(leads[LATER]) == ("dialing", None)
        assert await _live(client, talking.customer)

        # It ends after the link is back: settled once more, every agent free.
        await client.api(f"uuid_kill {talking.customer} NORMAL_CLEARING")
        await _until_equal(partial(lead_state, leads[LATER]), ("done", "connected"))
        free = ("available", None)
        await eventually(
            lambda: all(_agent_now(service, a) == free for a in RELINK_AGENTS), within=30
        )
    await store.db.dispose()
    attempts = _data(published, DialerAttempted)
    assert sorted(a.number for a in attempts) == sorted([ANSWERS, LATER, NEVER])  # once each


@contextlib.asynccontextmanager
async def cuttable(endpoint: Any) -> AsyncIterator[tuple[EslProxy, SwitchEndpoint]]:
    """A proxy before the switch's event socket that the test can cut, and its endpoint."""
    proxy = EslProxy(endpoint.host, endpoint.esl_port)
    await proxy.start()
    try:
        yield proxy, SwitchEndpoint("proxy", "127.0.0.1", proxy.port, endpoint.password)
    finally:
        await proxy.close()


async def _live(client: InboundClient, leg: str) -> bool:
    return (await client.api(f"uuid_exists {leg}")).text.strip() == "true"
