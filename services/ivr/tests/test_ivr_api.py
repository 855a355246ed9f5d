"""The flow API on real PostgreSQL and RabbitMQ: create, validate, activate, roll back, versions,
numbers; bad input answered with a problem detail naming node and field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import yaml

from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_ivr.app import create_app
from cc_ivr.flows import sample_documents
from cc_ivr.settings import IvrSettings
from cc_proto import Envelope, EventData

pytestmark = pytest.mark.integration


def sample(name: str) -> dict[str, Any]:
    """A sample flow as a JSON document (YAML's dates as ISO strings)."""
    document: dict[str, Any] = json.loads(json.dumps(sample_documents()[name], default=str))
    return document


@pytest.fixture
async def api(
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    make_rabbit_bus: Any,
    rabbit_cleanup: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[Envelope[EventData]], Any]]:
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    rabbit_cleanup.queue("ivr")
    settings = IvrSettings(
        tenant="acme",
        database_url=pg_url,
        amqp_url=amqp_url,
        bus_exchange=exchange,
        ivr_socket_port=0,
        known_queues="banking,sales,support",
        service_token=TEST_SERVICE_TOKEN,
    )
    watcher = await make_rabbit_bus(exchange=exchange, service="watch")
    seen: list[Envelope[EventData]] = []

    async def collect(event: Envelope[EventData]) -> None:
        seen.append(event)

    await watcher.consume(
        rabbit_cleanup.queue(unique_name("watch")), bindings=["acme.#"], handler=collect
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://ivr") as client:
        yield client, seen, app


async def test_create_activate_roll_back_and_list_versions(api: Any) -> None:
    client, seen, app = api
    bank = sample("bank")
    created = await client.post("/v1/flows", json=bank)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    changed = dict(bank, description="second")
    yaml_body = yaml.safe_dump(changed)
    second = await client.post(
        "/v1/flows", content=yaml_body, headers={"content-type": "application/yaml"}
    )
    assert second.json()["version"] == 2
    assert (await client.get("/v1/flows/bank")).status_code == 404  # nothing live yet

    assert (await client.post("/v1/flows/bank/versions/1/activate")).status_code == 200
    assert (await client.post("/v1/flows/bank/versions/2/activate")).status_code == 200
    live = (await client.get("/v1/flows/bank")).json()
    assert live["version"] == 2
    assert live["document"]["description"] == "second"
    versions = (await client.get("/v1/flows/bank/versions")).json()["versions"]
    assert [(v["version"], v["active"]) for v in versions] == [(2, True), (1, False)]

    back = await client.post("/v1/flows/bank/rollback")
    assert back.json() == {"name": "bank", "active_version": 1}
    assert (await client.get("/v1/flows/bank")).json()["version"] == 1

    assert (await client.put("/v1/numbers/8000", json={"flow": "bank"})).status_code == 200
    active = await app.state.flows.resolve("8000")
    assert (active.name, active.version) == ("bank", 1)
    assert await app.state.flows.resolve("8999") is None

    # every change went out through the outbox to RabbitMQ
    await eventually(lambda: len([e for e in seen if e.type == "config.changed"]) >= 6, within=20)
    assert {getattr(e.data, "entity", None) for e in seen} == {"flow"}
    exposed = (await client.get("/metrics")).text
    assert "cc_ivr_active_calls 0.0" in exposed


async def test_bad_flows_are_refused_with_node_and_field(api: Any) -> None:
    client, _seen, _app = api
    broken = sample("bank")
    broken["nodes"]["menu"]["choices"]["1"] = "ghost"
    broken["nodes"]["agent"]["queue"] = "mortgages"  # no such queue
    for path in ("/v1/flows/validate", "/v1/flows"):
        response = await client.post(path, json=broken)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        found = {tuple(e["loc"]) for e in body["errors"]}
        assert {
            ("body", "nodes", "menu", "choices.1"),
            ("body", "nodes", "agent", "queue"),
        } <= found
        assert body["status"] == 422
        assert body["title"]
    assert (await client.get("/v1/flows/bank/versions")).status_code == 404  # nothing stored
    ok = await client.post("/v1/flows/validate", json=sample("support"))
    assert ok.json()["valid"] is True
    garbage = await client.post(
        "/v1/flows", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["loc"] == ["body", "document"]


async def test_activation_and_rollback_errors(api: Any) -> None:
    client, _seen, _app = api
    await client.post("/v1/flows", json=sample("support"))
    missing = await client.post("/v1/flows/support/versions/9/activate")
    assert missing.status_code == 404
    assert "version 9" in missing.json()["detail"]
    nothing = await client.post("/v1/flows/support/rollback")
    assert nothing.status_code == 409
    unbound = await client.put("/v1/numbers/8001", json={"flow": "nope"})
    assert unbound.status_code == 404
    bad_number = await client.put("/v1/numbers/80a1", json={"flow": "support"})
    assert bad_number.status_code == 422
