"""Stream tickets for browsers' EventSource (no Authorization header): a read key gets a ticket
for one stream; the ticket opens that stream once, before it expires, while the key is valid;
the API key itself is never accepted in a URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from cc_crm_api.adapters.db import stream_tickets
from cc_crm_api.testing import Crm, CrmFactory, messages, serve
from cc_proto import make_event
from cc_proto.events import AgentLoggedIn

pytestmark = pytest.mark.integration


async def ticket(crm: Crm, token: str | None = None, **stream: str) -> dict[str, Any]:
    reply = await crm.client.post("/v1/events/tickets", json=stream, headers=crm.auth(token))
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def refused(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    reply = await http.get(url)
    assert reply.status_code == 401, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = reply.json()
    return body


async def test_a_ticket_opens_its_stream_once_without_a_header(start_crm: CrmFactory) -> None:
    crm = await start_crm()
    reader = await crm.key("read")
    issued = await ticket(crm, reader, agent_id="a1")
    assert issued["url"] == f"/v1/agents/a1/events?ticket={issued['ticket']}"
    lifetime = datetime.fromisoformat(issued["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=30) < lifetime <= timedelta(seconds=60)
    async with crm.db.session() as session:
        rows = (await session.execute(select(stream_tickets))).all()
    assert len(rows) == 1
    assert issued["ticket"] not in repr([tuple(r) for r in rows])  # only its hash is kept
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("GET", issued["url"]) as stream:  # no Authorization header
            assert stream.status_code == 200
            await crm.publisher.publish(
                make_event(AgentLoggedIn(team="blue"), tenant="acme", agent_id="a1")
            )
            [(_, event, data)] = await messages(stream, 1)
        assert (event, data["agent_id"]) == ("agent.logged_in", "a1")
        again = await refused(http, issued["url"])  # single use
        assert "unknown, used, expired" in again["detail"]
        # Without a ticket or a header, or with the API key where the ticket goes: refused.
        await refused(http, "/v1/agents/a1/events")
        await refused(http, f"/v1/agents/a1/events?ticket={reader}")


async def test_a_ticket_is_for_one_stream_and_dies_with_time_or_its_key(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm()
    made = await crm.client.post(
        "/v1/api-keys", json={"name": "browser", "scopes": ["read"]}, headers=crm.auth()
    )
    reader, key_id = made.json()["token"], made.json()["key_id"]
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        # Another agent's, a team's or the whole tenant's stream: not with this ticket.
        for other in ("/v1/agents/a2/events", "/v1/teams/blue/events", "/v1/events"):
            issued = await ticket(crm, reader, agent_id="a1")
            await refused(http, f"{other}?ticket={issued['ticket']}")
            await refused(http, issued["url"])  # and the attempt used it up
        team = await ticket(crm, reader, team="blue")
        assert team["url"].startswith("/v1/teams/blue/events?ticket=")
        # Expired (its time has passed): refused.
        late = await ticket(crm, reader)
        async with crm.db.session() as session:
            await session.execute(
                update(stream_tickets).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        await refused(http, late["url"])
        # Issued, then its key revoked: refused.
        pending = await ticket(crm, reader, agent_id="a1")
        assert (
            await crm.client.delete(f"/v1/api-keys/{key_id}", headers=crm.auth())
        ).status_code == 200
        assert "revoked" in (await refused(http, pending["url"]))["detail"]


async def test_tickets_need_a_read_key_and_work_on_any_replica(start_crm: CrmFactory) -> None:
    first = await start_crm()
    second = await start_crm()
    no_read = first.auth(await first.key("recordings"))
    denied = await first.client.post("/v1/events/tickets", json={}, headers=no_read)
    assert denied.status_code == 403
    anonymous = await first.client.post("/v1/events/tickets", json={})
    assert anonymous.status_code == 401
    both = await first.client.post(
        "/v1/events/tickets", json={"agent_id": "a1", "team": "blue"}, headers=first.auth()
    )
    assert both.status_code == 422
    issued = await ticket(first, agent_id="a1")
    async with serve(second.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("GET", issued["url"]) as stream:
            assert stream.status_code == 200
        await refused(http, issued["url"])
