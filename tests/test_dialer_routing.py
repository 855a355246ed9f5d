"""The dialer as the routing service runs it: a campaign started through the API is dialled by
the leader, an answering customer reaches an agent routing holds as available, that agent is on
a call in routing (a queued inbound caller waits for them), outcomes are recorded on the leads,
a stopped campaign dials nothing more, and a standby dials nothing (simulator or real switch,
real PostgreSQL and RabbitMQ).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cc_common.db import Database
from cc_common.testing import api_client, eventually
from cc_proto.events import DialerAttempted, DialerConnected
from cc_routing.adapters import dialer_db as t
from cc_routing.app import create_app
from cc_routing.dialer.calls import LegState
from cc_routing.dialer_store import DialerStore
from cc_routing.service import RoutingService
from cc_routing.settings import RoutingSettings
from cc_routing.testing import AGENT_AT_ONCE, Published, call_in, routing_settings, watch
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.simulator import Simulator
from cc_sim.switches import SwitchEndpoint, switch_kinds

pytestmark = pytest.mark.integration

TENANT = "outbound"
# Customers by their E.164 numbers (routing dials loopback/<number>/default here); the real
# test switch maps +3314268 73xx to its extension 73xx (tests/fs-overlay).
ANSWERS, NEVER, BUSY, BLOCKED = "+33142687301", "+33142687302", "+33142687331", "+33142687399"
LATER = "+33142687321"
SIM_ROUTES = (
    ("default", ANSWERS, tuple(parse_actions("sleep:1000;answer;park"))),
    ("default", NEVER, tuple(parse_actions("park"))),
    ("default", BUSY, tuple(parse_actions("hangup:USER_BUSY"))),
    ("default", LATER, tuple(parse_actions("ring_ready;sleep:2000;answer;park"))),
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
    make_rabbit_bus: Any,
    unique_name: Callable[[str], str],
) -> None:
    exchange = unique_name("ex")
    bus = await make_rabbit_bus(exchange=exchange)
    published = Published()
    await bus.consume(unique_name("dialer-e2e"), bindings=["#"], handler=published)

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
            # Now free, a1 is offered the inbound caller (blended: one kind of work at a time).
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
                assert outcomes[BLOCKED][1] is None  # never dialled
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


def _connected_leg(service: RoutingService) -> str:
    dialer = service.dialer
    assert dialer is not None
    runtime = dialer.running["renewals"]
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
