"""Hostile input to the metrics API: staffing inputs are bounded and a plan runs off the event
loop with a time limit (health stays responsive), schedules refuse nonsense times."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_metrics.app import create_app
from cc_metrics.settings import MetricsSettings
from cc_proto import make_event
from cc_proto.events import AgentLoggedIn

START = "2026-03-02T09:00:00Z"


@asynccontextmanager
async def metrics_app(tmp_path: Path, limit: float) -> AsyncIterator[httpx.AsyncClient]:
    """A metrics app on SQLite and the in-process bus, staffing limited to ``limit`` seconds."""
    settings = MetricsSettings(
        tenant="hostile",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3",
        amqp_url=f"memory://{tmp_path.name}",
        service_token=TEST_SERVICE_TOKEN,
        metrics_staffing_seconds=limit,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://metrics") as c:
        yield c


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A metrics app with a generous staffing time limit (the machine may be loaded)."""
    async with metrics_app(tmp_path, limit=60.0) as c:
        yield c


def interval(**changes: Any) -> dict[str, Any]:
    return {"start": START, "calls": 200, "aht_seconds": 180, **changes}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"intervals": [interval()], "patience_seconds": 1e-30}, "patience_seconds"),
        ({"intervals": [interval()], "patience_seconds": 1e9}, "patience_seconds"),
        ({"intervals": [interval()], "threshold_seconds": 1e9}, "threshold_seconds"),
        ({"intervals": [interval(calls=1e12)]}, "calls"),
        ({"intervals": [interval(aht_seconds=1e-9)]}, "aht_seconds"),
        ({"intervals": [interval(start=0)]}, "start"),
        ({"intervals": [interval(start="2026-03-02T09:00:00")]}, "start"),
        ({"intervals": [interval()] * 3001}, "intervals"),
    ],
)
async def test_staffing_inputs_are_bounded(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    reply = await client.post("/staffing", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in [str(part) for e in reply.json()["errors"] for part in e["loc"]]


async def test_a_plan_runs_off_the_event_loop_and_is_stopped_at_its_time_limit(
    tmp_path: Path,
) -> None:
    # Erlang A with a long threshold and short patience: seconds of CPU per interval.
    slow = {
        "intervals": [interval(calls=10, aht_seconds=300)] * 20,
        "patience_seconds": 1,
        "threshold_seconds": 600,
    }
    async with metrics_app(tmp_path, limit=1.0) as client:
        started = time.monotonic()
        plan = asyncio.create_task(client.post("/staffing", json=slow))
        health_times = []
        while not plan.done():
            asked = time.monotonic()
            assert (await client.get("/healthz")).status_code == 200
            health_times.append(time.monotonic() - asked)
            await asyncio.sleep(0.05)
        reply = await plan
    assert reply.status_code == 422, reply.text
    assert "longer than 1 s to compute" in reply.json()["detail"]
    assert time.monotonic() - started < 10
    assert len(health_times) >= 3
    assert max(health_times) < 1.0  # the loop never stalled behind the computation
    assert not _staffing_workers()  # the worker was killed, not left computing


async def test_a_feasible_plan_is_still_computed(client: httpx.AsyncClient) -> None:
    body = {"intervals": [interval()], "interval_minutes": 60, "patience_seconds": 60}
    reply = await client.post("/staffing", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "erlang_a"
    assert reply.json()["peak_agents"] >= 9


async def test_an_impossible_plan_is_a_422_with_the_reason(client: httpx.AsyncClient) -> None:
    body = {"intervals": [interval(calls=100_000, aht_seconds=7200)], "interval_minutes": 15}
    reply = await client.post("/staffing", json=body)
    assert reply.status_code == 422, reply.text
    assert "no staffing up to" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"start": 0}, "start"),
        ({"start": "1970-01-01T00:00:00Z"}, "start"),
        ({"end": "2026-03-02T10:00:00"}, "end"),
        ({"agent_id": "a1\n"}, "agent_id"),
        ({"agent_id": "a" * 5000}, "agent_id"),
    ],
)
async def test_schedules_refuse_nonsense(
    client: httpx.AsyncClient, entry: dict[str, Any], field: str
) -> None:
    good = {"agent_id": "a1", "start": START, "end": "2026-03-02T10:00:00Z", "activity": "work"}
    reply = await client.post("/schedules", json={"entries": [{**good, **entry}]})
    assert reply.status_code == 422, reply.text
    assert field in [str(part) for e in reply.json()["errors"] for part in e["loc"]]
    stored = await client.get("/schedules", params={"start": START, "end": "2026-03-03T00:00:00Z"})
    assert stored.json() == []
    assert (await client.post("/schedules", json={"entries": [good]})).status_code == 201


def _staffing_workers() -> list[int]:
    """Child processes of this test still running the staffing worker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"staffing_worker" in cmdline:
            found.append(int(pid))
    return found


async def test_a_huge_queue_name_on_the_bus_is_dead_lettered_and_never_a_series(
    tmp_path: Path,
) -> None:
    settings = MetricsSettings(
        tenant="hostile",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3",
        amqp_url=f"memory://huge-{tmp_path.name}",
        service_token=TEST_SERVICE_TOKEN,
        metrics_queues=["sales"],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://metrics") as c:
        before = len((await c.get("/metrics")).content)
        bus: Any = app.state.bus
        engine = app.state.runtime.engine
        huge = AgentLoggedIn(queues=["sales", "q" * 50_000], team="blue")
        await bus.publish(make_event(huge, tenant="hostile", agent_id="a1"))
        forged = AgentLoggedIn(queues=["sales", "forged-queue"], team="forged-team")
        await bus.publish(make_event(forged, tenant="hostile", agent_id="a2"))
        await eventually(lambda: "a2" in engine.agents, within=20)
        dead = await bus.dead_letters(settings.consumer_queue)
        assert [d.routing_key for d in dead] == ["hostile.agent.logged_in"]
        assert "queues: a name of 50000 characters" in dead[0].reason
        assert "a1" not in engine.agents  # nothing of it stored
        text = (await c.get("/metrics")).text
        assert len(text) < before + 20_000
        assert "forged-queue" not in text
        assert "forged-team" not in text
        queues = {
            sample.labels["queue"]
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if "queue" in sample.labels
        }
        assert queues <= {"sales", "other"}
        assert "sales" in queues
