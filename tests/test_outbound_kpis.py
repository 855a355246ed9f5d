"""Outbound KPIs across services: the agent's dispositions given to routing's API reach the
metrics service through routing's outbox and the real RabbitMQ, and become the campaign's
right-party contact rate beside the dialer's attempts and answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_metrics.app import create_app as create_metrics
from cc_metrics.settings import MetricsSettings
from cc_proto import make_event
from cc_proto.events import DialerAttempted, DialerConnected, DialerDropped
from cc_routing.app import create_app as create_routing
from cc_routing.settings import RoutingSettings
from cc_sim.config import SimConfig
from cc_sim.simulator import Simulator

pytestmark = pytest.mark.integration

CAMPAIGN = {
    "name": "renewals",
    "mode": "progressive",
    "agents": ["a1"],
    "caller_id": "+33100000000",
    "calling_window": {"start": "00:00", "end": "23:59:59"},  # the test runs at any hour
    "dispositions": ["sale", "wrong_party", "callback"],
}


@contextlib.asynccontextmanager
async def running(app: FastAPI, base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), api_client(app, base) as client:
        yield client


async def test_dispositions_given_to_routing_become_the_right_party_contact_rate(
    pg_url: str,
    amqp_url: str,
    make_rabbit_bus: Any,
    rabbit_cleanup: Any,
    unique_name: Callable[[str], str],
) -> None:
    tenant, exchange = unique_name("okpi"), unique_name("ex")
    floor = await make_rabbit_bus(exchange=exchange)  # publishes what the dialer's floor does
    metrics = create_metrics(
        MetricsSettings(
            tenant=tenant,
            database_url=pg_url,
            amqp_url=amqp_url,
            bus_exchange=exchange,
            metrics_queue=rabbit_cleanup.queue(unique_name("metrics")),
            service_token=TEST_SERVICE_TOKEN,
        )
    )
    async with (
        Simulator(SimConfig(esl_port=0, seed=3)) as sim,
        running(metrics, "http://metrics") as kpis,
    ):
        routing = create_routing(
            RoutingSettings(
                tenant=tenant,
                database_url=pg_url,
                amqp_url=amqp_url,
                bus_exchange=exchange,
                esl_port=sim.esl_port,
                service_token=TEST_SERVICE_TOKEN,
                routing_dialer=False,  # the leads are claimed here, as the dialer would
            )
        )
        async with running(routing, "http://routing") as api:
            await eventually(lambda: routing.state.routing.live.is_set(), within=20)
            (await api.put("/v1/campaigns/renewals", json=CAMPAIGN)).raise_for_status()
            list_l1 = {"campaign": "renewals", "default_region": "FR"}
            (await api.put("/v1/lists/l1", json=list_l1)).raise_for_status()
            numbers = "phone\n0142685300\n0142685301\n0142685302\n0142685303\n"
            (await api.post("/v1/lists/l1/imports", content=numbers.encode())).raise_for_status()
            (await api.post("/v1/campaigns/renewals/start")).raise_for_status()
            claims = await api.post("/v1/campaigns/renewals/claims", json={"count": 4})
            claimed = claims.raise_for_status().json()
            leads = [lead["lead_id"] for lead in claimed["leads"]]
            assert len(leads) == 4
            now = datetime.now(UTC)
            floor_events = [
                *(DialerAttempted(campaign="renewals", lead_id=lead, number="+33142685300",
                                  attempt=1) for lead in leads),
                *(DialerConnected(campaign="renewals", lead_id=lead, answered_by="human",
                                  wait_seconds=0.5) for lead in leads[:3]),
                DialerDropped(campaign="renewals", lead_id=leads[3], wait_seconds=2.0),
            ]  # fmt: skip
            for data in floor_events:
                await floor.publish(make_event(data, tenant=tenant, occurred_at=now))
            body = {"campaign": "renewals", "outcome": "connected", "agent_id": "a1"}
            for lead, code in zip(leads[:3], ("sale", "wrong_party", "sale"), strict=True):
                given = await api.post(
                    f"/v1/leads/{lead}/outcome", json={**body, "disposition": code}
                )
                given.raise_for_status()
            refused = await api.post(
                f"/v1/leads/{leads[3]}/outcome", json={**body, "disposition": "maybe"}
            )
            assert refused.status_code == 422  # not applied, so never counted

        start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        window = {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "granularity": "total",
            "facts": "true",
        }

        async def report() -> dict[str, Any]:
            reply = await kpis.get("/reports/campaigns", params=window)
            rows: list[dict[str, Any]] = reply.json()["rows"]
            return rows[0] if rows else {}

        async with asyncio.timeout(30):  # the outbox relay and the consumer run behind the API
            while not ((row := await report()) and _all_in(row["facts"])):
                await asyncio.sleep(0.1)
        assert row["key"] == "renewals"
        values = {key: kpi["value"] for key, kpi in row["kpis"].items()}
        assert values["dial_attempts"] == 4
        assert values["connect_rate"] == pytest.approx(4 / 4)
        assert values["right_party_contact_rate"] == pytest.approx(2 / 4)
        assert values["outbound_abandon_rate"] == pytest.approx(1 / 4)
        assert (row["facts"]["dispositions"], row["facts"]["right_party_contacts"]) == (3, 2)


def _all_in(facts: dict[str, float]) -> bool:
    """Every event the test caused has been counted (they arrive over two connections)."""
    return facts["dispositions"] >= 3 and facts["attempts"] >= 4 and facts["live_answers"] >= 4
