"""A resolved dispute reaches the metrics service over RabbitMQ: the reviewer's final score
replaces the evaluation's first one in the agent's, team's and queue's QA score, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_metrics.adapters.db import call_records
from cc_metrics.app import create_app as create_metrics
from cc_metrics.settings import MetricsSettings
from cc_proto.events import AgentLoggedIn
from cc_recording.testing import TENANT, Service, ServiceFactory, stored_call

from .test_recording_qa_api import FORM_V1, GOOD

pytestmark = pytest.mark.integration


@pytest.fixture
async def metrics(
    start_service: ServiceFactory,
    pg_url: str,
    amqp_url: str,
    rabbit_cleanup: Any,
    unique_name: Callable[[str], str],
) -> AsyncIterator[tuple[Service, FastAPI, httpx.AsyncClient]]:
    """The recording service and the metrics service on one exchange and database."""
    recording = await start_service()
    settings = MetricsSettings(
        tenant=TENANT,
        database_url=pg_url,
        amqp_url=amqp_url,
        bus_exchange=recording.settings.bus_exchange,
        metrics_queue=rabbit_cleanup.queue(unique_name("metrics")),
        bus_delivery_limit=2,
        service_token=TEST_SERVICE_TOKEN,
    )
    app = create_metrics(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(api_client(app, "http://metrics"))
        yield recording, app, client


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    """Poll ``check`` until it holds (the services talk over RabbitMQ, in their own time)."""
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.1)


def window() -> dict[str, str]:
    """The 15-minute intervals around now (the calls end now)."""
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return {
        "start": (start - timedelta(minutes=15)).isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
    }


async def qa_facts(client: httpx.AsyncClient, scope: str, **which: str) -> dict[str, float]:
    """The summed QA facts and the QA score of one agent, team or queue over the window."""
    reply = await client.get(
        f"/reports/{scope}",
        params={**which, **window(), "granularity": "total", "kpi": "qa_score", "facts": "true"},
    )
    assert reply.status_code == 200, reply.text
    row = reply.json()["rows"][0]
    facts = row["facts"]
    return {
        "evaluations": facts.get("qa_evaluations", 0.0),
        "score": row["kpis"]["qa_score"]["value"],
    }


async def revision_counted(metrics: FastAPI, call_id: str, evaluation_id: str) -> int | None:
    """The revision of the evaluation's score the metrics service holds for the call."""
    async with metrics.state.db.session() as session:
        held = (
            await session.execute(
                select(call_records.c.qa_scores).where(
                    call_records.c.tenant == TENANT, call_records.c.call_id == call_id
                )
            )
        ).scalar_one_or_none()
    score = (held or {}).get(evaluation_id)
    return int(score[0]) if score else None


async def test_a_resolved_dispute_replaces_the_qa_score_in_metrics_exactly_once(
    metrics: tuple[Service, FastAPI, httpx.AsyncClient],
) -> None:
    recording, app, client = metrics
    for agent in ("ann", "bob"):
        await recording.publish(
            AgentLoggedIn(queues=["support"], team="blue"), call_id=None, agent_id=agent
        )
    await recording.client.put("/scorecards/standard", json=FORM_V1)
    evaluation: dict[str, str] = {}
    for agent in ("ann", "bob"):
        rec = await stored_call(recording, f"call-m-{agent}", agent)
        reply = await recording.client.post(
            "/evaluations",
            json={"recording_id": rec, "scorecard": "standard", "evaluator": "eve",
                  "answers": {**GOOD, "tone": 2}},
        )  # fmt: skip
        assert reply.json()["percent"] == 70.0, reply.text  # 2 + 3 + 5*2/5 of 10
        evaluation[agent] = reply.json()["id"]

    first = {"evaluations": 1.0, "score": 0.7}

    async def scored(scope: str, expected: dict[str, float], **which: str) -> bool:
        return await qa_facts(client, scope, **which) == pytest.approx(expected)

    await until(lambda: scored("agents", first, agent="ann"))
    await until(lambda: scored("agents", first, agent="bob"))
    both = {"evaluations": 2.0, "score": 0.7}
    assert await qa_facts(client, "queues", queue="support") == pytest.approx(both)
    assert await qa_facts(client, "teams", team="blue") == pytest.approx(both)

    for agent in ("ann", "bob"):
        reply = await recording.client.post(
            f"/evaluations/{evaluation[agent]}/dispute",
            json={"agent": agent, "reason": "my tone was fine"},
        )
        assert reply.json()["status"] == "disputed", reply.text
    amended = await recording.client.post(  # ann's reviewer corrects the tone: 2 + 3 + 5 of 10
        f"/evaluations/{evaluation['ann']}/resolve",
        json={"reviewer": "rita", "resolution": "tone was fine", "answers": {**GOOD, "tone": 5}},
    )
    assert amended.json()["percent"] == 100.0, amended.text
    upheld = await recording.client.post(  # bob's reviewer keeps the score
        f"/evaluations/{evaluation['bob']}/resolve",
        json={"reviewer": "rita", "resolution": "the tone was curt"},
    )
    assert upheld.json()["percent"] == 70.0, upheld.text

    corrected = {"evaluations": 1.0, "score": 1.0}
    await until(lambda: scored("agents", corrected, agent="ann"))

    async def upheld_counted() -> bool:
        return await revision_counted(app, "call-m-bob", evaluation["bob"]) == 1

    await until(upheld_counted)
    assert await qa_facts(client, "agents", agent="ann") == pytest.approx(corrected)
    assert await qa_facts(client, "agents", agent="bob") == pytest.approx(first)
    after = {"evaluations": 2.0, "score": 0.85}
    assert await qa_facts(client, "queues", queue="support") == pytest.approx(after)
    assert await qa_facts(client, "teams", team="blue") == pytest.approx(after)
    cdr = await client.get("/cdrs/call-m-ann")
    assert cdr.json()["qa_score"] == pytest.approx(1.0)
