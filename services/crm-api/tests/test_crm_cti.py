"""CTI control through the public API: each command goes crm-api -> routing -> the switch.

On the simulator and, when CC_TEST_FREESWITCH names one, on the real FreeSWITCH (loopback
legs there: the caller runs extension 7200, the agent's contact 7303 answers).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from cc_common.testing import eventually
from cc_crm_api.adapters.db import event_log
from cc_crm_api.testing import Platform
from cc_sim.core.dialplan import parse_actions
from cc_sim.engine.endpoints import CallerScript

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALLER = "+33612345678"
ROUTES = (
    (
        "default",
        "8000",
        tuple(parse_actions(f"set:cc_queue=support;set:caller_id_number={CALLER};park")),
    ),
)
QUEUE = {"name": "support", "ring_timeout_seconds": 10}


@pytest.fixture
def running(start_platform: Callable[..., Any]) -> Callable[..., Any]:
    """Return a starter of the whole platform with this file's dialplan (see conftest.py)."""
    return functools.partial(start_platform, ROUTES)


@asynccontextmanager
async def answered_call(
    running: Callable[..., Any], switch: Any
) -> AsyncIterator[tuple[Platform, str]]:
    """Start the platform on the switch; agent a1 answers one call: yield it and the call id."""
    real = switch.real
    endpoint = switch.endpoint
    esl = None if real is None else (endpoint.host, endpoint.esl_port, endpoint.password)
    contact = "user/1001" if real is None else "loopback/7303/default"
    async with running(esl=esl) as p, AsyncExitStack() as stack:
        api = await stack.enter_async_context(p.client())
        assert (await api.post("/v1/queues", json=QUEUE)).status_code == 201
        agent = {"agent_id": "a1", "contact": contact, "queues": [{"queue": "support"}]}
        made = await api.post("/v1/agents", json={**agent, "wrap_up_seconds": 60})
        assert made.status_code == 201, made.text
        if real is None:
            p.sim.register_agent("1001", answer_delay=(0.2, 0.3))
        assert (await api.post("/v1/agents/a1/login", json={})).status_code == 200
        if real is None:
            p.sim.place_call(
                "8000",
                caller_number=CALLER,
                context="default",
                script=CallerScript(talk_seconds=120),
            )
        else:
            await asyncio.to_thread(
                real.cli,
                f"bgapi originate {{origination_caller_id_number={CALLER}}}"
                "loopback/7200/default &park()",
            )
        acd = p.routing.state.routing.runtime.acd
        await eventually(lambda: acd.agent_view("a1").state == "on_call", within=30)
        call_id = acd.agent_view("a1").call_id
        assert call_id is not None
        await eventually(
            lambda: (v := acd.call_view(call_id)) is not None and v.status == "connected", within=30
        )
        yield p, call_id


async def ended(p: Platform, call_id: str) -> dict[str, Any]:
    """Wait for the call's call.ended in the crm-api's event log; return its document."""
    query = select(event_log.c.document).where(
        event_log.c.call_id == call_id, event_log.c.type == "call.ended"
    )
    async with asyncio.timeout(30):
        while True:
            async with p.db.session() as session:
                found = (await session.execute(query)).scalar_one_or_none()
            if found is not None:
                return dict(found)
            await asyncio.sleep(0.1)


async def test_a_crm_hangs_up_a_call_once_however_often_it_retries(
    running: Callable[..., Any], switch: Any
) -> None:
    async with answered_call(running, switch) as (p, call_id), AsyncExitStack() as stack:
        admin = await stack.enter_async_context(p.client())
        made = await admin.post("/v1/api-keys", json={"name": "reader", "scopes": ["read"]})
        reader = await stack.enter_async_context(p.client(made.json()["token"]))
        refused = await reader.post(f"/v1/calls/{call_id}/hangup", json={})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert p.routing.state.routing.runtime.acd.holds_call(call_id)  # nothing was done

        key = {"Idempotency-Key": secrets.token_hex(16)}
        first = await admin.post(
            f"/v1/calls/{call_id}/hangup", json={"cause": "CALL_REJECTED"}, headers=key
        )
        assert first.status_code == 202, first.text
        assert first.json() == {"call_id": call_id, "command": "hangup", "cause": "CALL_REJECTED"}
        document = await ended(p, call_id)
        assert (document["data"]["hangup_cause"], document["data"]["hangup_by"]) == (
            "CALL_REJECTED",
            "agent",
        )
        assert document["call"]["caller_number"] == CALLER
        acd = p.routing.state.routing.runtime.acd
        assert not acd.holds_call(call_id)
        assert acd.agent_view("a1").state == "wrap_up"

        retry = await admin.post(
            f"/v1/calls/{call_id}/hangup", json={"cause": "CALL_REJECTED"}, headers=key
        )
        assert (retry.status_code, retry.json()) == (202, first.json())  # replayed, not re-run
        fresh = await admin.post(f"/v1/calls/{call_id}/hangup", json={})
        assert fresh.status_code == 404  # a new command finds no call: the retry acted once
        assert fresh.headers["content-type"].startswith("application/problem+json")
        async with p.db.session() as session:
            endings = (
                await session.execute(
                    select(event_log.c.seq).where(
                        event_log.c.call_id == call_id, event_log.c.type == "call.ended"
                    )
                )
            ).all()
        assert len(endings) == 1


async def logged(p: Platform, call_id: str, event_type: str) -> dict[str, Any]:
    """Wait for one event of the call in the crm-api's event log; return its document."""
    query = select(event_log.c.document).where(
        event_log.c.call_id == call_id, event_log.c.type == event_type
    )
    async with asyncio.timeout(30):
        while True:
            async with p.db.session() as session:
                found = (await session.execute(query)).scalar_one_or_none()
            if found is not None:
                return dict(found)
            await asyncio.sleep(0.1)


async def test_a_crm_blind_transfers_an_answered_call_to_a_number(
    running: Callable[..., Any], switch: Any
) -> None:
    async with answered_call(running, switch) as (p, call_id), p.client() as api:
        unsafe = await api.post(
            f"/v1/calls/{call_id}/transfer",
            json={"target_kind": "number", "target": "123&user/1000"},
        )
        assert unsafe.status_code == 422
        unknown = await api.post(
            "/v1/calls/nobody/transfer", json={"target_kind": "number", "target": "+4930123456"}
        )
        assert unknown.status_code == 404
        body = {"target_kind": "number", "target": "+4930123456"}
        key = {"Idempotency-Key": secrets.token_hex(16)}
        first = await api.post(f"/v1/calls/{call_id}/transfer", json=body, headers=key)
        assert first.status_code == 202, first.text
        moved = await logged(p, call_id, "call.transferred")
        assert (moved["data"]["target_kind"], moved["data"]["target"]) == ("number", "+4930123456")
        assert moved["agent_id"] == "a1"
        document = await logged(p, call_id, "call.ended")
        assert (document["data"]["outcome"], document["data"]["hangup_by"]) == (
            "transferred_out",
            "agent",
        )
        acd = p.routing.state.routing.runtime.acd
        assert acd.agent_view("a1").state == "wrap_up"
        retry = await api.post(f"/v1/calls/{call_id}/transfer", json=body, headers=key)
        assert (retry.status_code, retry.json()) == (202, first.json())  # replayed, acted once
        assert retry.headers.get("idempotent-replayed") == "true"


async def test_a_crm_blind_transfers_an_answered_call_to_a_queue(
    running: Callable[..., Any], switch: Any
) -> None:
    async with answered_call(running, switch) as (p, call_id), p.client() as api:
        billing = {"name": "billing", "ring_timeout_seconds": 10}
        assert (await api.post("/v1/queues", json=billing)).status_code == 201
        contact = "user/1002" if switch.real is None else "loopback/7303/default"
        bob = {"agent_id": "b1", "contact": contact, "queues": [{"queue": "billing"}]}
        assert (await api.post("/v1/agents", json=bob)).status_code == 201
        if switch.real is None:
            p.sim.register_agent("1002", answer_delay=(0.2, 0.3))
        assert (await api.post("/v1/agents/b1/login", json={})).status_code == 200
        body = {"target_kind": "queue", "target": "billing"}
        reply = await api.post(
            f"/v1/calls/{call_id}/transfer",
            json=body,
            headers={"Idempotency-Key": secrets.token_hex(16)},
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["target_kind"] == "queue"
        moved = await logged(p, call_id, "call.transferred")
        assert (moved["data"]["target"], moved["agent_id"]) == ("billing", "a1")
        acd = p.routing.state.routing.runtime.acd

        def with_bob() -> bool:
            view = acd.call_view(call_id)
            return view is not None and (view.status, view.agent_id) == ("connected", "b1")

        await eventually(with_bob, within=30)
        assert acd.agent_view("a1").state == "wrap_up"
        live = (await api.get(f"/v1/calls/{call_id}")).json()["live"]
        assert (live["queue"], live["agent_id"]) == ("billing", "b1")
        hung_up = await api.post(f"/v1/calls/{call_id}/hangup", json={})
        assert hung_up.status_code == 202
        document = await logged(p, call_id, "call.ended")
        assert (document["data"]["outcome"], document["agent_id"]) == ("answered", "b1")


async def test_a_crm_holds_and_resumes_a_call_on_the_simulator(running: Callable[..., Any]) -> None:
    """Simulator only: hold needs a SIP agent leg, which the real test switch does not have."""
    on_the_simulator = SimpleNamespace(real=None, endpoint=None)
    async with answered_call(running, on_the_simulator) as (p, call_id), p.client() as api:
        key = {"Idempotency-Key": secrets.token_hex(16)}
        held = await api.post(f"/v1/calls/{call_id}/hold", headers=key)
        assert held.status_code == 202, held.text
        assert held.json() == {"call_id": call_id, "command": "hold"}
        await logged(p, call_id, "call.held")
        again = await api.post(f"/v1/calls/{call_id}/hold", headers=key)
        assert again.status_code == 202  # the retry is replayed, not a second hold
        fresh = await api.post(f"/v1/calls/{call_id}/hold")
        assert fresh.status_code == 409  # a new hold of a held call does not apply
        resumed = await api.post(f"/v1/calls/{call_id}/resume")
        assert resumed.status_code == 202, resumed.text
        document = await logged(p, call_id, "call.resumed")
        assert document["data"]["hold_seconds"] > 0
        assert (await api.post("/v1/calls/nobody/resume")).status_code == 404


CUSTOMER = "+33142687303"
"""The customer a click-to-call dials: the real test switch maps +3314268 73xx to its
extension 73xx (tests/fs-overlay; 7303 answers at once), the simulator's gateway answers."""


async def test_a_crm_click_to_call_dials_once_however_often_it_retries(
    running: Callable[..., Any], switch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = switch.real
    if real is not None:  # reach the customer through the test switch's own dialplan
        monkeypatch.setenv("CC_ROUTING_CALLBACK_DIAL", "loopback/{number}/default")
    endpoint = switch.endpoint
    esl = None if real is None else (endpoint.host, endpoint.esl_port, endpoint.password)
    contact = "user/1001" if real is None else "loopback/7303/default"
    async with running(esl=esl) as p, p.client() as api:
        assert (await api.post("/v1/queues", json=QUEUE)).status_code == 201
        agent = {"agent_id": "a1", "contact": contact, "queues": [{"queue": "support"}]}
        made = await api.post("/v1/agents", json={**agent, "wrap_up_seconds": 60})
        assert made.status_code == 201, made.text
        if real is None:
            p.sim.register_agent("1001", answer_delay=(0.2, 0.3))
        body = {"number": CUSTOMER, "queue": "support", "customer_id": "CRM-42"}
        away = await api.post("/v1/agents/a1/calls", json=body)
        assert away.status_code == 409  # logged out
        assert "not available (logged_out)" in away.json()["detail"]
        assert (await api.post("/v1/agents/a1/login", json={})).status_code == 200
        for bad in ("0142687303", "+33 1 42&user/1000"):
            refused = await api.post("/v1/agents/a1/calls", json={**body, "number": bad})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
        key = {"Idempotency-Key": secrets.token_hex(16)}
        first = await api.post("/v1/agents/a1/calls", json=body, headers=key)
        assert first.status_code == 202, first.text
        call_id = first.json()["call_id"]
        assert first.json()["number"] == CUSTOMER
        retry = await api.post("/v1/agents/a1/calls", json=body, headers=key)
        assert (retry.status_code, retry.json()) == (202, first.json())  # replayed: dials once
        busy = await api.post("/v1/agents/a1/calls", json=body)
        assert busy.status_code == 409
        answered = await logged(p, call_id, "call.answered")
        assert (answered["agent_id"], answered["data"]["queue_answer"]) == ("a1", False)
        call = answered["call"]
        assert (call["direction"], call["dialed_number"], call["customer_id"]) == (
            "outbound",
            CUSTOMER,
            "CRM-42",
        )
        view = (await api.get(f"/v1/calls/{call_id}")).json()
        assert (view["customer"]["customer_id"], view["customer"]["direction"]) == (
            "CRM-42",
            "outbound",
        )
        assert (view["live"]["status"], view["live"]["agent_id"]) == ("connected", "a1")
        assert (await api.post(f"/v1/calls/{call_id}/hangup", json={})).status_code == 202
        document = await ended(p, call_id)
        assert (document["data"]["outcome"], document["call"]["customer_id"]) == (
            "answered",
            "CRM-42",
        )
        acd = p.routing.state.routing.runtime.acd
        await eventually(lambda: acd.agent_view("a1").state == "wrap_up", within=10)

        async def recorded() -> dict[str, Any]:
            reply = await api.get(f"/v1/calls/{call_id}")
            return dict(reply.json().get("record") or {})

        async with asyncio.timeout(30):
            while (await recorded()).get("ended_at") is None:
                await asyncio.sleep(0.2)
        record = await recorded()
        assert (record["direction"], record["dialed_number"], record["customer_id"]) == (
            "outbound",
            CUSTOMER,
            "CRM-42",
        )
        assert (record["agent_id"], record["outcome"]) == ("a1", "answered")
        async with p.db.session() as session:
            placed = (
                await session.execute(
                    select(event_log.c.seq).where(event_log.c.type == "call.placed")
                )
            ).all()
        assert len(placed) == 1  # one call placed for the three requests


async def test_a_crm_blind_transfers_an_answered_call_to_an_agent(
    running: Callable[..., Any], switch: Any
) -> None:
    async with answered_call(running, switch) as (p, call_id), p.client() as api:
        contact = "user/1002" if switch.real is None else "loopback/7303/default"
        bob = {"agent_id": "b1", "contact": contact}
        assert (await api.post("/v1/agents", json=bob)).status_code == 201
        if switch.real is None:
            p.sim.register_agent("1002", answer_delay=(0.2, 0.3))
        body = {"target_kind": "agent", "target": "b1"}
        away = await api.post(f"/v1/calls/{call_id}/transfer", json=body)
        assert away.status_code == 409  # b1 is not logged in
        assert "not available" in away.json()["detail"]
        nobody = {"target_kind": "agent", "target": "nobody"}
        assert (await api.post(f"/v1/calls/{call_id}/transfer", json=nobody)).status_code == 404
        assert (await api.post("/v1/agents/b1/login", json={})).status_code == 200
        reply = await api.post(
            f"/v1/calls/{call_id}/transfer",
            json=body,
            headers={"Idempotency-Key": secrets.token_hex(16)},
        )
        assert reply.status_code == 202, reply.text
        assert (reply.json()["target_kind"], reply.json()["target"]) == ("agent", "b1")
        moved = await logged(p, call_id, "call.transferred")
        assert (moved["data"]["target_kind"], moved["agent_id"]) == ("agent", "a1")
        acd = p.routing.state.routing.runtime.acd

        def with_bob() -> bool:
            view = acd.call_view(call_id)
            return view is not None and (view.status, view.agent_id) == ("connected", "b1")

        await eventually(with_bob, within=30)
        assert acd.agent_view("a1").state == "wrap_up"
        live = (await api.get(f"/v1/calls/{call_id}")).json()["live"]
        assert (live["queue"], live["agent_id"]) == ("support", "b1")
        assert (await api.post(f"/v1/calls/{call_id}/hangup", json={})).status_code == 202
        document = await logged(p, call_id, "call.ended")
        assert (document["data"]["outcome"], document["agent_id"]) == ("answered", "b1")
        assert document["call"]["caller_number"] == CALLER
