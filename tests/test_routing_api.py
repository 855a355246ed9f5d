"""The routing service's HTTP API against the simulator: configuration, agent states, a waiting
caller's position and wait, callbacks, explanations, and bad input answered with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from cc_common.bus import Bus
from cc_common.bus._memory import MemoryBus, broker_named
from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_proto import Envelope, EventData
from cc_routing.app import create_app
from cc_routing.settings import RoutingSettings
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.engine.endpoints import CallerScript
from cc_sim.simulator import Simulator

pytestmark = pytest.mark.integration

ROUTES = (
    ("default", "8000", tuple(parse_actions("set:cc_queue=sales;park"))),
    ("default", "8001", tuple(parse_actions("set:cc_queue=nowhere;park"))),
)


@asynccontextmanager
async def platform(
    tmp_path: Path, name: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator, list[Envelope[EventData]]]]:
    """A simulator and one routing instance on SQLite and the in-process bus."""
    seen: list[Envelope[EventData]] = []
    async with Simulator(SimConfig(esl_port=0, routes=ROUTES, seed=3)) as sim:
        settings = RoutingSettings(
            tenant="api",
            database_url=f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3",
            amqp_url=f"memory://{name}",
            esl_port=sim.esl_port,
            service_token=TEST_SERVICE_TOKEN,
        )
        app: FastAPI = create_app(settings)
        watcher: Bus = MemoryBus(broker_named(name))

        async def collect(event: Envelope[EventData]) -> None:
            seen.append(event)

        await watcher.consume("watch", bindings=["api.#"], handler=collect)
        async with app.router.lifespan_context(app), api_client(app, "http://r") as client:
            await eventually(lambda: app.state.routing.live.is_set(), within=20)
            yield client, sim, seen
        await watcher.close()


def types_of(seen: list[Envelope[EventData]], call_id: str) -> list[str]:
    return [e.type for e in seen if e.call_id == call_id]


QUEUE = {
    "name": "sales",
    "ring_timeout_seconds": 5,
    "requirements": [
        {"after_seconds": 0, "requirement": 'language == "fr"'},
        {"after_seconds": 60, "requirement": None},
    ],
}


async def test_bad_configuration_is_refused_with_the_reason(tmp_path: Path) -> None:
    async with platform(tmp_path, "api-bad") as (client, _, _):
        broken = {**QUEUE, "requirements": [{"after_seconds": 0, "requirement": "language == "}]}
        reply = await client.put("/v1/queues/sales", json=broken)
        assert reply.status_code == 422
        assert "requirement step 1" in reply.json()["detail"]
        assert (await client.put("/v1/queues/other", json=QUEUE)).status_code == 422
        wrong = await client.put("/v1/queues/sales", json={**QUEUE, "strategy": "fastest-finger"})
        assert wrong.status_code == 422
        agent = {"agent_id": "a1", "contact": "user/1001", "skills": {"language": 9}}
        reply = await client.put("/v1/agents/a1", json=agent)
        assert reply.status_code == 422
        assert "proficiency" in reply.json()["detail"]
        assert (await client.get("/v1/queues/missing")).status_code == 404
        assert (await client.post("/v1/agents/ghost/login", json={})).status_code == 404


async def test_agent_states_through_the_api(tmp_path: Path) -> None:
    async with platform(tmp_path, "api-states") as (client, sim, seen):
        sim.register_agent("1001")
        assert (await client.put("/v1/queues/sales", json=QUEUE)).status_code == 200
        agent = {
            "agent_id": "a1",
            "contact": "user/1001",
            "skills": {"language.de": 3},
            "tiers": {"sales": {"level": 1, "position": 1}},
        }
        assert (await client.put("/v1/agents/a1", json=agent)).status_code == 200
        assert (await client.post("/v1/agents/a1/login", json={})).json()["state"] == "available"
        again = await client.post("/v1/agents/a1/login", json={})
        assert again.status_code == 409
        no_reason = await client.post("/v1/agents/a1/state", json={"state": "break"})
        assert no_reason.status_code == 422
        lunch = await client.post("/v1/agents/a1/state", json={"state": "break", "reason": "lunch"})
        assert (lunch.json()["state"], lunch.json()["reason"]) == ("break", "lunch")
        assert (await client.post("/v1/agents/a1/logout", json={})).json()["state"] == "logged_out"
        await eventually(lambda: sum(e.type == "agent.state_changed" for e in seen) >= 3)
        changes = [e.data for e in seen if e.type == "agent.state_changed"]
        assert [c.to_state for c in changes] == ["available", "break", "logged_out"]  # type: ignore[attr-defined]


async def test_a_waiting_caller_has_a_position_and_can_take_a_callback(tmp_path: Path) -> None:
    async with platform(tmp_path, "api-callback") as (client, sim, seen):
        sim.register_agent("1001", answer_delay=(0.1, 0.2))
        assert (await client.put("/v1/queues/sales", json=QUEUE)).status_code == 200
        caller = sim.place_call("8000", script=CallerScript(), context="default")
        await eventually(lambda: "call.queued" in types_of(seen, caller))
        where = (await client.get(f"/v1/calls/{caller}")).json()
        assert (where["status"], where["position"], where["queue"]) == ("waiting", 1, "sales")
        booked = await client.post(f"/v1/calls/{caller}/callback", json={"number": "+4930123"})
        assert booked.status_code == 200, booked.text
        bad = await client.post(f"/v1/calls/{caller}/callback", json={"number": "call me"})
        assert bad.status_code == 422
        unknown = await client.post("/v1/calls/no-such-call/callback", json={"number": "+4930"})
        assert unknown.status_code == 404, unknown.text  # not yet held: the IVR asks again
        await eventually(lambda: "call.ended" in types_of(seen, caller))
        assert types_of(seen, caller)[-2:] == ["call.callback_requested", "call.ended"]
        # The callback is served when a French speaker logs in: agent rung, customer dialled.
        agent = {
            "agent_id": "fr1",
            "contact": "user/1001",
            "skills": {"language.fr": 4},
            "tiers": {"sales": {}},
        }
        await client.put("/v1/agents/fr1", json=agent)
        await client.post("/v1/agents/fr1/login", json={})
        await eventually(lambda: any(e.type == "call.answered" for e in seen), within=20)
        callback_id = next(e.call_id for e in seen if e.type == "call.answered")
        assert callback_id != caller
        decisions = (await client.get(f"/v1/calls/{callback_id}/explain")).json()
        assert decisions[-1]["chosen"] == ["fr1"]


async def test_a_call_for_an_unknown_queue_is_blocked_and_sent_to_the_fallback(
    tmp_path: Path,
) -> None:
    async with platform(tmp_path, "api-unknown") as (client, sim, seen):
        caller = sim.place_call("8001", script=CallerScript(), context="default")
        await eventually(lambda: "call.ended" in types_of(seen, caller))
        blocked = next(e for e in seen if e.call_id == caller and e.type == "call.blocked")
        assert blocked.data.reason == "unknown_queue"  # type: ignore[attr-defined]
        await eventually(lambda: caller not in sim.switch.sessions, within=5)
        assert (await client.get(f"/v1/calls/{caller}")).status_code == 404


async def test_hostile_configuration_is_refused_with_a_reason_and_nothing_stored(
    tmp_path: Path,
) -> None:
    async with platform(tmp_path, "api-hostile") as (client, _, seen):
        assert (await client.put("/v1/queues/sales", json=QUEUE)).status_code == 200
        good = {"agent_id": "a1", "contact": "user/1001", "tiers": {"sales": {}}}
        refused = {
            "user/3001 &system(touch${_}/tmp/pwned)": "whitespace",
            "user/3001&system(touch${_}/tmp/pwned)": "'&'",
            "user/1004\n\nbgapi hupall": "line breaks",
            "{origination_uuid=x}user/1004": "variable block",
        }
        for contact, reason in refused.items():
            reply = await client.put("/v1/agents/a1", json={**good, "contact": contact})
            assert reply.status_code == 422, contact
            assert reply.headers["content-type"] == "application/problem+json"
            assert reason in reply.json()["detail"]
        bad_agents = [
            ({**good, "agent_id": "nl2\n"}, "nl2%0A", "control character"),
            ({**good, "tiers": {"nowhere": {}}}, "a1", "queues that do not exist: nowhere"),
            ({**good, "skills": {"s" * 5000: 3}}, "a1", "5000 characters long"),
            ({**good, "team": "blue\r\n"}, "a1", "control character"),
        ]
        for body, path, reason in bad_agents:
            reply = await client.put(f"/v1/agents/{path}", json=body)
            assert reply.status_code == 422, body
            assert reason in reply.json()["detail"]
        big_music = {**QUEUE, "name": "big", "music_on_hold": "m" * 20_000_000}
        too_big = await client.put("/v1/queues/big", json=big_music)
        assert too_big.status_code == 413
        assert too_big.headers["content-type"] == "application/problem+json"
        long_music = {**QUEUE, "name": "big", "music_on_hold": "m" * 600}
        assert "at most 500" in (await client.put("/v1/queues/big", json=long_music)).text
        newline = await client.put("/v1/queues/nl2%0A", json={**QUEUE, "name": "nl2\n"})
        assert newline.status_code == 422
        assert "control character" in newline.json()["detail"]
        # Nothing of it was stored, remembered or announced.
        assert (await client.get("/v1/agents/a1")).status_code == 404
        names = [q["queue"] for q in (await client.get("/v1/queues")).json()]
        assert names == ["sales"]
        assert (await client.put("/v1/agents/a1", json=good)).status_code == 200
        await eventually(lambda: any(e.type == "config.changed" for e in seen if _agent(e)))
        changes = [e for e in seen if e.type == "config.changed"]
        assert [(c.data.entity, c.data.entity_id) for c in changes] == [  # type: ignore[attr-defined]
            ("queue", "sales"),
            ("agent", "a1"),
        ]


def _agent(event: Envelope[EventData]) -> bool:
    return getattr(event.data, "entity", None) == "agent"
