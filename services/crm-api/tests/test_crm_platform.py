"""The crm-api over the real routing and metrics services (HTTP), the simulator, PostgreSQL and
RabbitMQ: agents and queues reach routing without a restart, a call pops on the agent's event
stream with the caller's number and customer id, the stream resumes without gaps, the webhook
receiver gets the signed call.ended, and call records and reports come from metrics."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from cc_common.testing import TEST_SERVICE_TOKEN, eventually
from cc_crm_api.adapters.db import event_log
from cc_crm_api.testing import WebhookReceiver, serve
from cc_routing.adapters import db as routing_tables
from cc_sim.core.dialplan import parse_actions
from cc_sim.engine.endpoints import CallerScript

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALLER = "+33612345678"
CUSTOMER = "CRM-000042"
ROUTES = (
    (
        "default",
        "8000",
        # The IVR's data dip gives the customer id and the normalised number.
        tuple(
            parse_actions(
                f"set:cc_queue=support;set:cc_customer_id={CUSTOMER};"
                f"set:caller_id_number={CALLER};park"
            )
        ),
    ),
)


@pytest.fixture
def running(start_platform: Callable[..., Any]) -> Callable[..., Any]:
    """Return a starter of the whole platform with this file's dialplan (see conftest.py)."""
    return functools.partial(start_platform, ROUTES)


class SseReader:
    """Reads an SSE response into (id, event, data) messages."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = 30.0) -> tuple[int | None, str, dict[str, Any]]:
        async with asyncio.timeout(within):
            fields: dict[str, str] = {}
            async for line in self._lines:
                if line == "":
                    if "data" in fields:
                        seq = int(fields["id"]) if "id" in fields else None
                        return seq, fields.get("event", "message"), json.loads(fields["data"])
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise AssertionError("stream ended")

    async def until(
        self, event_type: str, within: float = 30.0
    ) -> list[tuple[int | None, str, dict[str, Any]]]:
        seen = []
        async with asyncio.timeout(within):
            while True:
                message = await self.next(within)
                seen.append(message)
                if message[1] == event_type:
                    return seen


QUEUE = {"name": "support", "ring_timeout_seconds": 10, "disposition_codes": ["sale", "no-sale"]}
AGENT = {
    "agent_id": "a1",
    "contact": "user/1001",
    "skills": [{"name": "language.fr", "proficiency": 4}],
    "team": "blue",
    "queues": [{"queue": "support"}],
}


async def answered(p: Any, call_id: str) -> None:
    """Wait until the call's answer is in the crm-api's event log."""
    query = select(event_log.c.seq).where(
        event_log.c.call_id == call_id, event_log.c.type == "call.answered"
    )
    async with asyncio.timeout(30):
        while True:
            async with p.db.session() as session:
                if (await session.execute(query)).first() is not None:
                    return
            await asyncio.sleep(0.1)


async def test_a_call_pops_on_the_agent_stream_and_reaches_the_webhook(
    running: Callable[..., Any], switch: Any
) -> None:
    """On the simulator and on the real FreeSWITCH (loopback legs: the caller runs extension
    7200, which queues it to support and parks it; the agent's contact is 7303, which answers)."""
    real = switch.real
    endpoint = switch.endpoint
    esl = None if real is None else (endpoint.host, endpoint.esl_port, endpoint.password)
    contact = "user/1001" if real is None else "loopback/7303/default"
    receiver = WebhookReceiver()
    async with (
        running(esl=esl, crm_webhook_allowed_networks=["127.0.0.1/32"]) as p,
        serve(receiver) as hook_url,
        AsyncExitStack() as stack,
    ):
        api = await stack.enter_async_context(p.client())
        assert (await api.post("/v1/queues", json=QUEUE)).status_code == 201
        made = await api.post(
            "/v1/agents", json={**AGENT, "contact": contact, "wrap_up_seconds": 60}
        )
        assert made.status_code == 201, made.text
        # Routing has both, at once.
        assert "support" in p.routing.state.routing.runtime.acd.queue_names()
        assert "a1" in p.routing.state.routing.runtime.acd.agent_ids()
        hook = await api.post(
            "/v1/webhooks", json={"url": f"{hook_url}/hooks", "events": ["call.ended"]}
        )
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        if real is None:
            p.sim.register_agent("1001", answer_delay=(0.2, 0.3))
        login = await api.post("/v1/agents/a1/login", json={})
        assert login.json()["state"] == "available"
        async with api.stream("GET", "/v1/agents/a1/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            reader = SseReader(stream)
            await asyncio.sleep(0.3)
            if real is None:
                placed = p.sim.place_call(
                    "8000",
                    caller_number=CALLER,
                    context="default",
                    script=CallerScript(talk_seconds=1.5),
                )
            else:
                variables = f"cc_customer_id={CUSTOMER},origination_caller_id_number={CALLER}"
                await asyncio.to_thread(
                    real.cli, f"bgapi originate {{{variables}}}loopback/7200/default &park()"
                )
            popped = await reader.until("call.agent_offered")
            offer = popped[-1][2]
            call_id = offer["call_id"]
            if real is None:
                assert call_id == placed
            assert offer["agent_id"] == "a1"
            assert offer["team"] == "blue"
            assert (offer["call"]["caller_number"], offer["call"]["customer_id"]) == (
                CALLER,
                CUSTOMER,
            )
            assert offer["call"]["queue"] == "support"
            last_seen = popped[-1][0]
        if real is not None:  # the caller hangs up once connected
            await answered(p, call_id)
            await asyncio.to_thread(real.cli, f"uuid_kill {call_id}")
        # The tab reconnects with Last-Event-ID: it gets everything after, nothing twice.
        await eventually(lambda: len(receiver.received) >= 1, within=30)
        async with api.stream(
            "GET", "/v1/agents/a1/events", headers={"Last-Event-ID": str(last_seen)}
        ) as stream:
            resumed = await SseReader(stream).until("call.ended")
        async with p.db.session() as session:
            logged = (
                (
                    await session.execute(
                        select(event_log.c.seq)
                        .where(event_log.c.agent_id == "a1", event_log.c.seq > (last_seen or 0))
                        .order_by(event_log.c.seq)
                    )
                )
                .scalars()
                .all()
            )
        got = [seq for seq, _, _ in resumed]
        assert got == list(logged)[: len(got)]
        types = [event for _, event, _ in resumed]
        assert "call.answered" in types
        ended = resumed[-1][2]
        assert (ended["call_id"], ended["call"]["customer_id"]) == (call_id, CUSTOMER)
        # The webhook: signed per Standard Webhooks, verified by the reference library.
        delivery = receiver.received[0]
        payload = Webhook(secret).verify(delivery.body, delivery.headers)
        assert payload["type"] == "call.ended"
        assert (payload["call_id"], payload["call"]["customer_id"]) == (call_id, CUSTOMER)
        assert payload["call"]["caller_number"] == CALLER
        # Call records from metrics, with the customer's ids.
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

        async def listed() -> list[dict[str, Any]]:
            reply = await api.get("/v1/calls", params={"start": start, "end": end})
            assert reply.status_code == 200, reply.text
            return [r for r in reply.json()["items"] if r["outcome"]]

        for _ in range(100):
            if await listed():
                break
            await asyncio.sleep(0.2)
        records = await listed()
        assert [(r["call_id"], r["customer_id"], r["caller_number"]) for r in records] == [
            (call_id, CUSTOMER, CALLER)
        ]
        # Search by the caller's number: E.164, exact.
        window = {"start": start, "end": end}
        by_caller = await api.get("/v1/calls", params={**window, "caller_number": CALLER})
        assert [r["call_id"] for r in by_caller.json()["items"]] == [call_id]
        other = await api.get("/v1/calls", params={**window, "caller_number": CALLER[:-1] + "0"})
        assert other.json()["items"] == []
        for bad in ("0612345678", "+0612345678", "+3361234567890123", "+33 6 12"):
            refused = await api.get("/v1/calls", params={**window, "caller_number": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["errors"][0]["loc"] == ["query", "caller_number"]
        one = (await api.get(f"/v1/calls/{call_id}")).json()
        assert one["record"]["agent_id"] == "a1"
        assert one["customer"]["customer_id"] == CUSTOMER
        timeline = [e["type"] for e in one["timeline"]]
        assert timeline[0] == "call.offered"
        assert "call.ended" in timeline
        assert one["routing"][-1]["chosen"] == ["a1"]
        csv = await api.get(
            "/v1/calls/export", params={"start": start, "end": end, "customer_id": CUSTOMER}
        )
        assert csv.headers["content-type"].startswith("text/csv")
        assert call_id in csv.text
        assert CUSTOMER in csv.text
        # Reports: the same figures the metrics service gives.
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        params = {
            "start": hour.isoformat(),
            "end": (hour + timedelta(hours=1)).isoformat(),
            "granularity": "total",
        }
        ours = await api.get("/v1/reports/queues", params=params)
        assert ours.status_code == 200, ours.text
        auth = {"Authorization": f"Bearer {TEST_SERVICE_TOKEN}"}
        async with httpx.AsyncClient(base_url=p.metrics_url, headers=auth) as metrics:
            theirs = await metrics.get("/reports/queues", params=params)
        assert ours.json() == theirs.json()
        # Wrap-up code and notes go through routing and stay with the call.
        wrapped = await api.post(
            "/v1/agents/a1/disposition", json={"code": "sale", "resolved": True, "notes": "premium"}
        )
        assert wrapped.status_code == 200, wrapped.text
        notes = (await api.get(f"/v1/calls/{call_id}")).json()["notes"]
        assert [(n["code"], n["notes"]) for n in notes] == [("sale", "premium")]
        ended = await api.post("/v1/agents/a1/wrap-up", json={"action": "end"})
        assert ended.json()["state"] == "available"

        async def newest_state() -> str | None:
            history = (await api.get("/v1/agents/a1/state-history")).json()
            return history[0]["to_state"] if history else None

        for _ in range(100):
            if await newest_state() == "available":
                break
            await asyncio.sleep(0.1)
        history = (await api.get("/v1/agents/a1/state-history")).json()
        assert [h["to_state"] for h in history[:3]] == ["available", "wrap_up", "on_call"]


async def test_configuration_changes_reach_routing_without_a_restart(
    running: Callable[..., Any],
) -> None:
    async with running() as p, AsyncExitStack() as stack:
        api = await stack.enter_async_context(p.client())
        acd = p.routing.state.routing.runtime.acd
        assert (await api.post("/v1/queues", json=QUEUE)).status_code == 201
        assert (await api.post("/v1/queues", json=QUEUE)).status_code == 409
        bad = await api.post(
            "/v1/queues",
            json={"name": "bad", "requirements": [{"after_seconds": 0, "requirement": "lang =="}]},
        )
        assert bad.status_code == 422
        assert "requirement step 1" in bad.json()["detail"]
        assert (await api.get("/v1/queues/bad")).status_code == 404
        # A name routing would refuse (or a URL path would not carry as written) is a 422 here.
        for name in (".", "..", "two words", "x" * 65):
            refused = await api.post("/v1/queues", json={"name": name})
            assert refused.status_code == 422, (name, refused.text)
            agent = {"agent_id": name, "contact": "user/1001"}
            assert (await api.post("/v1/agents", json=agent)).status_code == 422, name
        for listing in ("/v1/agents", "/v1/queues"):  # a cursor is a name; not one is a 422
            page = await api.get(listing, params={"cursor": "\x00\u00bb\U00102a80"})
            assert page.status_code == 422, (listing, page.text)
        changed = await api.patch("/v1/queues/support", json={"strategy": "round-robin"})
        assert changed.json()["strategy"] == "round-robin"
        assert changed.json()["live"]["queue"] == "support"
        async with p.routing.state.db.session() as session:
            stored = (
                await session.execute(
                    select(routing_tables.queues.c.config).where(
                        routing_tables.queues.c.name == "support"
                    )
                )
            ).scalar_one()
        assert stored["strategy"] == "round-robin"
        assert (await api.post("/v1/agents", json=AGENT)).status_code == 201
        patched = await api.patch(
            "/v1/agents/a1",
            json={"skills": [{"name": "billing", "proficiency": 5}], "team": "green"},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["live"]["state"] == "logged_out"
        assert dict(acd._floor.agents["a1"].config.skills) == {"billing": 5}
        smuggled = await api.patch("/v1/agents/a1", json={"contact": "user/1 &system(x)"})
        assert smuggled.status_code == 422
        listed = (await api.get("/v1/agents")).json()
        assert [a["agent_id"] for a in listed["items"]] == ["a1"]
        assert (await api.post("/v1/agents/a1/login", json={})).status_code == 200
        busy = await api.delete("/v1/agents/a1")
        assert busy.status_code == 409
        assert (await api.post("/v1/agents/a1/logout", json={})).status_code == 200
        assert (await api.delete("/v1/agents/a1")).status_code == 204
        assert "a1" not in acd.agent_ids()
        assert (await api.delete("/v1/queues/support")).status_code == 204
        assert "support" not in acd.queue_names()


async def test_a_staffing_plan_too_costly_to_compute_is_a_422_with_the_reason(
    running: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Metrics refuses a plan it cannot compute in its time limit (here 2 s) with a 422; the
    # crm-api waits for that answer even when its other calls time out sooner (here 1 s).
    monkeypatch.setenv("CC_METRICS_STAFFING_SECONDS", "2")
    start = datetime(2025, 3, 3, tzinfo=UTC)
    starts = [(start + timedelta(minutes=15 * n)).isoformat() for n in range(100)]
    # 9,000 Erlangs an interval: thousands of Erlang steps for each agent count tried
    heavy = [{"start": at, "calls": 9000, "aht_seconds": 900} for at in starts]
    async with running(crm_upstream_timeout_seconds=1) as p, p.client() as client:
        reply = await client.post("/v1/staffing", json={"intervals": heavy}, timeout=60)
        assert reply.status_code == 422, reply.text
        assert "longer than 2 s to compute" in reply.json()["detail"]
        light = {"intervals": [{"start": starts[0], "calls": 120, "aht_seconds": 240}]}
        assert (await client.post("/v1/staffing", json=light)).status_code == 200
