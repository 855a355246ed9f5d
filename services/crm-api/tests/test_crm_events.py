"""The agent event stream: per agent and per team, authenticated, resumable from Last-Event-ID
without gaps or repeats, enriched with the call's customer id, one tenant only."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
from sqlalchemy import func, select, text

from cc_common.testing import eventually
from cc_crm_api.adapters.db import event_log
from cc_crm_api.adapters.stream import EventHub, LoggedEvent, StreamFilter
from cc_crm_api.testing import Crm, CrmFactory, WebhookReceiver, messages, serve
from cc_proto import make_event
from cc_proto.events import (
    AgentLoggedIn,
    AgentState,
    AgentStateChanged,
    CallAgentOffered,
    CallIvrCompleted,
    CallOffered,
)

pytestmark = pytest.mark.integration


async def logged(crm: Crm) -> int:
    async with crm.db.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(event_log))).scalar_one()
        )


async def wait_logged(crm: Crm, count: int) -> None:
    async with asyncio.timeout(30):
        while await logged(crm) < count:
            await asyncio.sleep(0.05)


def state_change(n: int) -> AgentStateChanged:
    states = (AgentState.AVAILABLE, AgentState.BREAK)
    return AgentStateChanged(from_state=states[n % 2], to_state=states[(n + 1) % 2], reason="r")


async def test_team_stream_pops_calls_with_the_customer_and_leaves_other_teams_out(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm()
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        headers = crm.auth(await crm.key("read"))
        async with http.stream("GET", "/v1/teams/blue/events", headers=headers) as stream:
            assert stream.status_code == 200
            await asyncio.sleep(0.3)
            publish = crm.publisher.publish
            await publish(make_event(AgentLoggedIn(team="blue"), tenant="acme", agent_id="a1"))
            await publish(make_event(AgentLoggedIn(team="green"), tenant="acme", agent_id="a2"))
            ivr = CallIvrCompleted(
                flow="main",
                outcome="queued",
                queue="sales",
                duration_seconds=8,
                selections=["1", "3"],
                customer_id="CRM-9",
            )
            await publish(make_event(ivr, tenant="acme", call_id="c1"))
            offered = CallOffered(queue="sales", caller_number="+4930777", customer_id="CRM-9")
            await publish(make_event(offered, tenant="acme", call_id="c1"))
            ring = CallAgentOffered(
                queue="sales", agent_leg_uuid="leg-1", contact="user/1001", ring_timeout_seconds=20
            )
            await publish(make_event(ring, tenant="acme", call_id="c1", agent_id="a2"))
            await publish(make_event(ring, tenant="acme", call_id="c1", agent_id="a1"))
            got = await messages(stream, 2)
        assert [(event, data["agent_id"]) for _, event, data in got] == [
            ("agent.logged_in", "a1"),
            ("call.agent_offered", "a1"),
        ]
        pop = got[1][2]
        assert pop["team"] == "blue"
        assert pop["call"] == {
            "call_id": "c1",
            "caller_number": "+4930777",
            "dialed_number": None,
            "customer_id": "CRM-9",
            "queue": "sales",
            "ivr_selections": ["1", "3"],
            "agent_id": "a1",
            "direction": "inbound",
        }


async def test_a_reconnecting_client_gets_every_missed_event_once(start_crm: CrmFactory) -> None:
    crm = await start_crm()
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        headers = crm.auth()
        async with http.stream("GET", "/v1/agents/a1/events", headers=headers) as stream:
            await asyncio.sleep(0.3)
            for n in range(30):
                await crm.publisher.publish(
                    make_event(state_change(n), tenant="acme", agent_id="a1")
                )
                if n % 3 == 0:  # another agent's events interleave
                    await crm.publisher.publish(
                        make_event(state_change(n), tenant="acme", agent_id="a9")
                    )
            first = await messages(stream, 10)
        last = first[-1][0]
        for n in range(30, 60):
            await crm.publisher.publish(make_event(state_change(n), tenant="acme", agent_id="a1"))
        await wait_logged(crm, 70)
        resume = {**headers, "Last-Event-ID": str(last)}
        async with http.stream("GET", "/v1/agents/a1/events", headers=resume) as stream:
            rest = await messages(stream, 50)
        seqs = [seq for seq, _, _ in first + rest]
        assert len(seqs) == 60
        assert seqs == sorted(set(seqs))
        assert {data["agent_id"] for _, _, data in first + rest} == {"a1"}
        bad = await http.get(
            "/v1/agents/a1/events", headers={**headers, "Last-Event-ID": "yesterday"}
        )
        assert bad.status_code == 400


async def test_a_burst_is_group_committed_in_order_and_resumes_without_gaps(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm()
    burst = [
        make_event(
            AgentStateChanged(
                from_state=AgentState.AVAILABLE, to_state=AgentState.BREAK, reason=f"r{n}"
            ),
            tenant="acme",
            agent_id="a1",
        )
        for n in range(200)
    ]
    # PostgreSQL refuses a NUL in a JSON document: that event alone fails (and is retried,
    # then dead-lettered, by the bus); the batch it arrived in is committed without it.
    poisoned = make_event(
        AgentStateChanged(
            from_state=AgentState.AVAILABLE, to_state=AgentState.BREAK, reason="bad\x00"
        ),
        tenant="acme",
        agent_id="a1",
    )
    burst.insert(100, poisoned)
    await asyncio.gather(*(crm.publisher.publish(e) for e in burst))
    await wait_logged(crm, 200)
    async with crm.db.session() as session:
        rows = (
            await session.execute(
                select(event_log.c.seq, event_log.c.document, text("xmin::text")).order_by(
                    event_log.c.seq
                )
            )
        ).all()
    assert [doc["data"]["reason"] for _, doc, _ in rows] == [f"r{n}" for n in range(200)]
    transactions = {xmin for _, _, xmin in rows}
    assert len(transactions) < 50  # committed together, not one transaction per event
    assert str(poisoned.id) not in {doc["event_id"] for _, doc, _ in rows}
    middle = rows[77][0]
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        resume = {**crm.auth(), "Last-Event-ID": str(middle)}
        async with http.stream("GET", "/v1/agents/a1/events", headers=resume) as stream:
            rest = await messages(stream, 122)
    assert [seq for seq, _, _ in rest] == [seq for seq, _, _ in rows[78:]]


async def test_streams_need_a_key_with_read(start_crm: CrmFactory) -> None:
    crm = await start_crm()
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        assert (await http.get("/v1/agents/a1/events")).status_code == 401
        recordings = crm.auth(await crm.key("recordings"))
        assert (await http.get("/v1/teams/blue/events", headers=recordings)).status_code == 403


async def test_a_redelivered_or_foreign_event_is_not_logged_twice(start_crm: CrmFactory) -> None:
    crm = await start_crm()
    event = make_event(state_change(1), tenant="acme", agent_id="a1")
    await crm.publisher.publish(event)
    await crm.publisher.publish(event)
    # Another tenant on the same broker: its routing keys are not bound, and if they were, the
    # recorder would drop them.
    await crm.publisher.publish(make_event(state_change(2), tenant="other", agent_id="a1"))
    await crm.publisher.publish(make_event(state_change(3), tenant="acme", agent_id="a2"))
    await wait_logged(crm, 2)
    await asyncio.sleep(0.5)
    async with crm.db.session() as session:
        rows = (await session.execute(select(event_log.c.tenant, event_log.c.agent_id))).all()
    assert sorted(tuple(r) for r in rows) == [("acme", "a1"), ("acme", "a2")]


async def test_internal_calls_carry_the_service_token(start_crm: CrmFactory) -> None:
    routing = WebhookReceiver(default_status=200)
    async with serve(routing) as url:
        crm = await start_crm(crm_routing_url=url, service_token="internal-token-123")
        reply = await crm.client.post("/v1/queues", json={"name": "sales"}, headers=crm.auth())
        assert reply.status_code == 201, reply.text
        await eventually(lambda: len(routing.received) == 1)
        assert routing.received[0].headers["authorization"] == "Bearer internal-token-123"
        assert json.loads(routing.received[0].body) == {"name": "sales"}


async def test_the_log_is_bounded_and_a_late_client_is_told_of_the_gap(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm(crm_event_log_size=100)
    for n in range(250):
        await crm.publisher.publish(make_event(state_change(n), tenant="acme", agent_id="a1"))
    async with asyncio.timeout(60):
        while True:
            async with crm.db.session() as session:
                newest = (await session.execute(select(func.max(event_log.c.seq)))).scalar_one()
            if newest == 250:
                break
            await asyncio.sleep(0.1)
    assert await logged(crm) < 250
    async with serve(crm.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        resume = {**crm.auth(), "Last-Event-ID": "5"}
        async with http.stream("GET", "/v1/agents/a1/events", headers=resume) as stream:
            got = await messages(stream, 1 + await logged(crm))
    gap = got[0]
    assert gap[1] == "gap"
    assert gap[2]["last_event_id"] == 5
    oldest = gap[2]["oldest_kept"]
    assert [seq for seq, _, _ in got[1:]] == list(range(oldest, 251))


async def test_every_screen_carries_the_same_encoded_event_in_bursts(
    start_crm: CrmFactory,
) -> None:
    """Fan-out costs one read and one encoding per event, not one per screen: the streams of
    a tenant, a team and an agent are handed the very same event, encoded once; what waited in
    a stream's queue comes out as one batch; a stream that does not match gets nothing."""
    crm = await start_crm()
    hub: EventHub = crm.app.state.runtime.extras["hub"]
    filters = [StreamFilter(), StreamFilter(team="blue"), StreamFilter(agent_id="a1")]
    streams = [hub.follow(f, None, keepalive=30) for f in [*filters, StreamFilter(agent_id="a2")]]
    firsts = [asyncio.ensure_future(anext(stream)) for stream in streams]
    await eventually(lambda: hub.subscribers == len(streams))
    publish = crm.publisher.publish
    await publish(make_event(AgentLoggedIn(team="blue"), tenant="acme", agent_id="a1"))
    for n in range(5):
        await publish(make_event(state_change(n), tenant="acme", agent_id="a1"))
    await wait_logged(crm, 6)

    async def events(index: int, count: int) -> list[LoggedEvent]:
        got: list[LoggedEvent] = []
        batch = await firsts[index]
        while True:
            assert isinstance(batch, list)
            got += batch
            if len(got) >= count:
                return got
            batch = await anext(streams[index])

    tenant, team, agent = [await events(n, 6) for n in range(3)]
    assert [e.seq for e in tenant] == sorted({e.seq for e in tenant})
    for theirs in (team, agent):
        assert all(ours is other for ours, other in zip(tenant, theirs, strict=True))
    frames = [e.sse() for e in tenant]
    assert all(e.sse() is frame for e, frame in zip(agent, frames, strict=True))
    assert frames[0].startswith(f"id: {tenant[0].seq}\nevent: agent.logged_in\ndata: ".encode())
    assert json.loads(tenant[0].json()) == {"seq": tenant[0].seq, **tenant[0].document}

    for n in range(5):  # nobody reads while these are logged and queued
        await publish(make_event(state_change(n), tenant="acme", agent_id="a1"))
    await wait_logged(crm, 11)
    await eventually(lambda: hub.last_seq >= tenant[-1].seq + 5)
    burst = await anext(streams[0])
    assert isinstance(burst, list)
    assert [e.seq for e in burst] == [tenant[-1].seq + k for k in range(1, 6)]
    assert not firsts[3].done()
    firsts[3].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await firsts[3]
    for stream in streams:
        await stream.aclose()
    await eventually(lambda: hub.subscribers == 0)
