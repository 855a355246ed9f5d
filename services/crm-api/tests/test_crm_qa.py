"""QA evaluations through the public API: the crm-api over the real recording service (HTTP on
loopback), PostgreSQL and RabbitMQ, with scoped keys: read to see an evaluation question by
question, write for the agent's acknowledge or dispute and the reviewer's resolution."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from cc_common.bus._rabbit import RabbitBus
from cc_common.testing import TEST_SERVICE_TOKEN, serve
from cc_crm_api.testing import Crm, CrmFactory
from cc_recording.testing import Service, service_settings, start_service, stored_call

pytestmark = pytest.mark.integration

FORM = {
    "pass_mark": 80,
    "sections": [
        {"name": "opening", "questions": [
            {"id": "greet", "text": "Greeted the caller?", "critical": True},
        ]},
        {"name": "resolution", "questions": [
            {"id": "tone", "text": "Tone", "kind": "scale", "scale_max": 5, "weight": 4},
            {"id": "upsell", "text": "Offered an upgrade?", "allow_na": True},
        ]},
    ],
}  # fmt: skip


@pytest.fixture
async def qa_desk(
    start_crm: CrmFactory,
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    make_rabbit_bus: Callable[..., Awaitable[RabbitBus]],
    rabbit_cleanup: Any,
    tmp_path: Path,
) -> AsyncIterator[tuple[Crm, Service]]:
    """The recording service served over HTTP on loopback, and the crm-api calling it."""
    exchange = unique_name("ex")
    publisher = await make_rabbit_bus(exchange=exchange)
    settings = service_settings(
        database_url=pg_url,
        amqp_url=amqp_url,
        exchange=exchange,
        queue=rabbit_cleanup.queue(unique_name("recording")),
        directory=tmp_path,
    )
    async with AsyncExitStack() as stack:
        recording = await start_service(settings, publisher, stack)
        url = await stack.enter_async_context(serve(recording.app))
        # The crm-api calls the recording service with the service token, as in production.
        crm = await start_crm(crm_recording_url=url, service_token=TEST_SERVICE_TOKEN)
        yield crm, recording


async def scored_call(recording: Service) -> str:
    """A stored call of agent ann, scored 52 % by eve; return the evaluation's id."""
    assert (await recording.client.put("/scorecards/standard", json=FORM)).status_code == 200
    rec = await stored_call(recording, "call-crm-qa", "ann")
    reply = await recording.client.post(
        "/evaluations",
        json={"recording_id": rec, "scorecard": "standard", "evaluator": "eve",
              "answers": {"greet": True, "tone": 2, "upsell": "na"}},
    )  # fmt: skip
    assert reply.json()["percent"] == 52.0, reply.text  # 1 + 4*2/5 of 5
    evaluation: str = reply.json()["id"]
    return evaluation


async def test_an_evaluation_question_by_question_and_its_dispute_over_the_public_api(
    qa_desk: tuple[Crm, Service],
) -> None:
    crm, recording = qa_desk
    evaluation = await scored_call(recording)
    reader, writer = crm.auth(await crm.key("read")), crm.auth(await crm.key("write"))
    path = f"/v1/qa/evaluations/{evaluation}"

    seen = await crm.client.get(path, headers=reader)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["agent_id"], body["status"], body["percent"]) == ("ann", "submitted", 52.0)
    assert body["answers"] == {"greet": True, "tone": 2, "upsell": "na"}
    assert [(q["section"], q["text"], q["answer"], q["points"]) for q in body["questions"]] == [
        ("opening", "Greeted the caller?", True, 1.0),
        ("resolution", "Tone", 2, 1.6),
        ("resolution", "Offered an upgrade?", "na", None),
    ]
    listed = await crm.client.get("/v1/qa/evaluations", params={"agent_id": "ann"}, headers=reader)
    assert [e["id"] for e in listed.json()["items"]] == [evaluation]
    assert (await crm.client.get(path)).status_code == 401

    refused = await crm.client.post(f"{path}/dispute", json={"agent": "ann", "reason": "x"},
                                    headers=reader)  # fmt: skip
    assert refused.status_code == 403
    assert "lacks the 'write' scope" in refused.json()["detail"]
    no_reason = await crm.client.post(f"{path}/dispute", json={"agent": "ann"}, headers=writer)
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text
    blank = await crm.client.post(
        f"{path}/dispute", json={"agent": "ann", "reason": "   "}, headers=writer
    )
    assert (blank.status_code, blank.json()["detail"]) == (422, "a dispute needs a reason")
    not_theirs = await crm.client.post(
        f"{path}/dispute", json={"agent": "bob", "reason": "not mine"}, headers=writer
    )
    assert not_theirs.status_code == 409
    assert "only the evaluated agent" in not_theirs.json()["detail"]
    assert (await crm.client.get(path, headers=reader)).json()["status"] == "submitted"

    disputed = await crm.client.post(
        f"{path}/dispute", json={"agent": "ann", "reason": "my tone was fine"}, headers=writer
    )
    assert disputed.status_code == 200, disputed.text
    assert (disputed.json()["status"], disputed.json()["dispute_reason"]) == (
        "disputed", "my tone was fine",
    )  # fmt: skip
    late = await crm.client.post(f"{path}/acknowledge", json={"agent": "ann"}, headers=writer)
    assert late.status_code == 409
    assert (
        late.json()["detail"] == "only a submitted evaluation can be acknowledged (it is disputed)"
    )

    unknown = await crm.client.post(
        f"/v1/qa/evaluations/{uuid.uuid4()}/resolve",
        json={"reviewer": "rita", "resolution": "?"},
        headers=writer,
    )
    assert unknown.status_code == 404
    assert "no evaluation" in unknown.json()["detail"]
    assert (
        await crm.client.get(f"/v1/qa/evaluations/{uuid.uuid4()}", headers=reader)
    ).status_code == 404
    own = await crm.client.post(
        f"{path}/resolve", json={"reviewer": "eve", "resolution": "fine"}, headers=writer
    )
    assert (own.status_code, own.json()["detail"]) == (
        409, "the evaluator cannot review their own evaluation",
    )  # fmt: skip
    wrong = await crm.client.post(
        f"{path}/resolve",
        json={"reviewer": "rita", "resolution": "tone was fine",
              "answers": {"greet": True, "tone": 9, "upsell": "na"}},
        headers=writer,
    )  # fmt: skip
    assert (wrong.status_code, wrong.json()["detail"]) == (422, "question 'tone' takes 0..5, got 9")
    assert (await crm.client.get(path, headers=reader)).json()["status"] == "disputed"

    resolved = await crm.client.post(
        f"{path}/resolve",
        json={"reviewer": "rita", "resolution": "tone was fine",
              "answers": {"greet": True, "tone": 5, "upsell": "na"}},
        headers=writer,
    )  # fmt: skip
    assert resolved.status_code == 200, resolved.text
    final = resolved.json()
    assert (final["status"], final["reviewer"], final["percent"]) == ("resolved", "rita", 100.0)
    assert [q["points"] for q in final["questions"]] == [1.0, 4.0, None]
    again = await crm.client.post(
        f"{path}/resolve", json={"reviewer": "rita", "resolution": "again"}, headers=writer
    )
    assert again.status_code == 409
