"""The IVR hands a caller to routing, which gives them to an agent: on the simulator and the
real FreeSWITCH, with the routing service itself (PostgreSQL, RabbitMQ) on the same switch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_metrics.app import create_app as create_metrics
from cc_metrics.settings import MetricsSettings
from cc_routing.app import create_app
from cc_routing.settings import RoutingSettings

from .conftest import CONTEXT, VIP, Ivr, Line
from .test_ivr_calls import SURVEYED, live, parked, surveyed

pytestmark = pytest.mark.integration


@asynccontextmanager
async def routing(settings: RoutingSettings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://routing") as client:
        await eventually(lambda: app.state.routing.live.is_set(), within=30)
        yield client


async def test_the_ivr_queues_a_vip_and_routing_connects_an_agent(
    ivr: Ivr,
    line: Line,
    switch: Any,
    make_pg_url: Callable[[], Any],
    amqp_url: str,
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> None:
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    endpoint = switch.endpoint
    settings = RoutingSettings(
        tenant="acme",
        database_url=await make_pg_url(),
        amqp_url=amqp_url,
        bus_exchange=exchange,
        esl_host=endpoint.host,
        esl_port=endpoint.esl_port,
        esl_password=endpoint.password,
        routing_lease=False,
        service_token=TEST_SERVICE_TOKEN,
    )
    await live(ivr)
    async with routing(settings) as api:
        queue = {"name": "banking", "ring_timeout_seconds": 10, "wrap_up_seconds": 0}
        assert (await api.put("/v1/queues/banking", json=queue)).status_code == 200
        agent = {
            "agent_id": "a1",
            "contact": f"loopback/7101/{CONTEXT}",
            "skills": {"banking": 5},
            "tiers": {"banking": {"level": 1, "position": 1}},
        }
        assert (await api.put("/v1/agents/a1", json=agent)).status_code == 200, agent
        assert (await api.post("/v1/agents/a1/login", json={})).status_code == 200
        caller = await line.call("8000", VIP, ivr.port)
        await line.collecting(caller, 1)
        await caller.press("2")
        assert (await parked(line, caller))["cc_priority"] == "10"

        statuses: list[str] = []
        for _ in range(120):  # routing rings the agent, who answers, and bridges the caller
            response = await api.get(f"/v1/calls/{caller.b_leg}")
            statuses.append(str(response.json().get("status", response.status_code)))
            if statuses[-1] == "connected":
                break
            await asyncio.sleep(0.25)
        assert statuses[-1] == "connected", statuses[-5:]
        agents: list[str | None] = []
        for _ in range(40):  # routing writes the agent onto the caller just after the bridge
            agents.append(await caller.variable("cc_agent"))
            if agents[-1] == "a1":
                break
            await asyncio.sleep(0.25)
        assert agents[-1] == "a1", agents[-3:]
        assert await caller.variable("cc_skills") == "banking"


async def test_a_survey_after_a_real_bridge_reaches_the_metrics_service(
    ivr: Ivr,
    line: Line,
    switch: Any,
    make_pg_url: Callable[[], Any],
    amqp_url: str,
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> None:
    endpoint = switch.endpoint
    settings = RoutingSettings(
        tenant="acme",
        database_url=await make_pg_url(),
        amqp_url=amqp_url,
        bus_exchange=ivr.exchange,
        esl_host=endpoint.host,
        esl_port=endpoint.esl_port,
        esl_password=endpoint.password,
        routing_lease=False,
        service_token=TEST_SERVICE_TOKEN,
    )
    metrics_settings = MetricsSettings(
        tenant="acme",
        database_url=await make_pg_url(),
        amqp_url=amqp_url,
        bus_exchange=ivr.exchange,
        metrics_queue=rabbit_cleanup.queue(unique_name("metrics")),
    )
    await live(ivr)
    info = await ivr.store.create(SURVEYED)
    await ivr.store.activate("surveyed", info.version)
    await ivr.store.bind("8005", "surveyed")
    metrics_app = create_metrics(metrics_settings)
    async with routing(settings) as api, metrics_app.router.lifespan_context(metrics_app):
        queue = {"name": "banking", "ring_timeout_seconds": 10, "wrap_up_seconds": 0}
        assert (await api.put("/v1/queues/banking", json=queue)).status_code == 200
        agent = {
            "agent_id": "a1",
            "contact": f"loopback/7101/{CONTEXT}",
            "skills": {"banking": 5},
            "tiers": {"banking": {"level": 1, "position": 1}},
        }
        assert (await api.put("/v1/agents/a1", json=agent)).status_code == 200
        assert (await api.post("/v1/agents/a1/login", json={})).status_code == 200
        caller = await line.call("8005", VIP, ivr.port)
        await line.collecting(caller, 1)
        await caller.press("2")
        await parked(line, caller)
        agent_leg: list[str | None] = [None]
        for _ in range(120):
            agent_leg[0] = await caller.variable("cc_agent_leg")
            if agent_leg[0]:
                break
            await asyncio.sleep(0.25)
        assert agent_leg[0], "routing never connected an agent"
        await asyncio.sleep(1.0)
        await line.client.api(f"uuid_kill {agent_leg[0]}")  # the agent hangs up
        for count, keys in ((2, "1"), (3, "9#"), (4, "1")):
            await line.collecting(caller, count)
            await caller.press(keys)
        event = await surveyed(ivr, caller)
        assert (event.data.csat, event.data.nps, event.data.fcr) == (1, 9, True)
        assert event.agent_id == "a1"
        transport = httpx.ASGITransport(app=metrics_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:

            async def exposed() -> str:
                return (await client.get("/metrics")).text

            wanted = (
                'cc_survey_csat_answers_total{answer="1",queue="banking"} 1.0',
                'cc_survey_nps_answers_total{category="promoter",queue="banking"} 1.0',
            )
            text = ""
            for _ in range(80):
                text = await exposed()
                if all(w in text for w in wanted):
                    break
                await asyncio.sleep(0.25)
            for w in wanted:
                assert w in text, w
