"""QA over the API on real PostgreSQL: scorecard versions, evaluations, disputes, calibration,
sampling, and the qa.evaluated events on RabbitMQ."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cc_common.testing import eventually
from cc_proto import Envelope, EventData
from cc_recording.testing import ServiceFactory, stored_call

pytestmark = pytest.mark.integration

FORM_V1 = {
    "pass_mark": 80,
    "sections": [
        {
            "name": "opening",
            "questions": [
                {"id": "greet", "text": "Greeted the caller?", "weight": 2},
                {"id": "verify", "text": "Verified identity?", "weight": 3, "critical": True},
            ],
        },
        {
            "name": "resolution",
            "questions": [
                {"id": "tone", "text": "Tone", "kind": "scale", "scale_max": 5, "weight": 5},
                {"id": "upsell", "text": "Offered an upgrade?", "allow_na": True},
            ],
        },
    ],
}
GOOD = {"greet": True, "verify": True, "tone": 4, "upsell": "na"}


async def test_scoring_a_call_and_the_agent_disputing_it_to_a_reviewer(
    start_service: ServiceFactory, rabbit_cleanup: Any, unique_name: Callable[[str], str]
) -> None:
    service = await start_service()
    seen: list[Envelope[EventData]] = []

    async def collect(event: Envelope[EventData]) -> None:
        seen.append(event)

    await service.publisher.consume(
        rabbit_cleanup.queue(unique_name("qa")), bindings=["acme.qa.#"], handler=collect
    )
    v1 = await service.client.put("/scorecards/standard", json=FORM_V1)
    assert v1.json() == {"name": "standard", "version": 1}
    recording = await stored_call(service, "call-qa-1", "ann")

    scored = await service.client.post(
        "/evaluations",
        json={"recording_id": recording, "scorecard": "standard", "evaluator": "eve",
              "answers": GOOD, "comments": "good call"},
    )  # fmt: skip
    assert scored.status_code == 201, scored.text
    evaluation = scored.json()
    # earned 2 + 3 + 5*4/5 = 9 of 10 (upsell N/A)
    assert (evaluation["percent"], evaluation["passed"], evaluation["status"]) == (
        90.0, True, "submitted",
    )  # fmt: skip
    assert (evaluation["agent_id"], evaluation["queue"], evaluation["scorecard_version"]) == (
        "ann", "support", 1,
    )  # fmt: skip

    # A new version of the form does not change what was scored on the old one.
    form_v2 = {**FORM_V1, "pass_mark": 95}
    assert (await service.client.put("/scorecards/standard", json=form_v2)).json()["version"] == 2
    assert (await service.client.get("/scorecards/standard")).json()["pass_mark"] == 95
    old = await service.client.get("/scorecards/standard", params={"version": 1})
    assert old.json()["pass_mark"] == 80
    again = await service.client.get(f"/evaluations/{evaluation['id']}")
    assert (again.json()["scorecard_version"], again.json()["passed"]) == (1, True)

    not_theirs = await service.client.post(
        f"/evaluations/{evaluation['id']}/dispute", json={"agent": "bob", "reason": "x"}
    )
    assert not_theirs.status_code == 409
    disputed = await service.client.post(
        f"/evaluations/{evaluation['id']}/dispute",
        json={"agent": "ann", "reason": "I did offer the upgrade"},
    )
    assert disputed.json()["status"] == "disputed"
    ack = await service.client.post(
        f"/evaluations/{evaluation['id']}/acknowledge", json={"agent": "ann"}
    )
    assert ack.status_code == 409
    own = await service.client.post(
        f"/evaluations/{evaluation['id']}/resolve", json={"reviewer": "eve", "resolution": "no"}
    )
    assert own.status_code == 409
    resolved = await service.client.post(
        f"/evaluations/{evaluation['id']}/resolve",
        json={"reviewer": "rita", "resolution": "upgrade was offered",
              "answers": {**GOOD, "upsell": True}},
    )  # fmt: skip
    body = resolved.json()
    assert (body["status"], body["reviewer"], body["percent"]) == ("resolved", "rita", 90.91)
    mine = (await service.client.get("/evaluations", params={"agent_id": "ann"})).json()
    assert [e["id"] for e in mine] == [evaluation["id"]]

    failing = await service.client.post(
        "/evaluations",
        json={"recording_id": recording, "scorecard": "standard", "evaluator": "eve",
              "answers": {**GOOD, "verify": False}},
    )  # fmt: skip
    assert (failing.json()["percent"], failing.json()["critical_failed"]) == (0.0, ["verify"])
    ok = await service.client.post(
        f"/evaluations/{failing.json()['id']}/acknowledge", json={"agent": "ann"}
    )
    assert ok.json()["status"] == "acknowledged"

    # The score, the reviewer's final score of the same evaluation, the failing score.
    await eventually(lambda: len(seen) == 3, within=15)
    assert {(e.type, e.agent_id, e.call_id) for e in seen} == {("qa.evaluated", "ann", "call-qa-1")}
    published = sorted(
        (e.data.evaluation_id == evaluation["id"], e.data.revision, e.data.percent)  # type: ignore[attr-defined]
        for e in seen
    )
    assert published == [(False, 0, 0.0), (True, 0, 90.0), (True, 1, 90.91)]
    assert [e.data.critical_failed for e in seen if e.data.percent == 0] == [["verify"]]  # type: ignore[attr-defined]


async def test_bad_qa_input_gets_a_reason_and_changes_nothing(
    start_service: ServiceFactory,
) -> None:
    service = await start_service()
    bad_form = {"sections": [{"name": "s", "questions": [{"id": "a", "text": "t", "weight": -1}]}]}
    assert (await service.client.put("/scorecards/x", json=bad_form)).status_code == 422
    assert (await service.client.get("/scorecards/x")).status_code == 404
    await service.client.put("/scorecards/standard", json=FORM_V1)
    recording = await stored_call(service, "call-qa-bad", "ann")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"recording_id": "nope", "answers": GOOD}, 404, "recording"),
        ({"recording_id": recording, "answers": GOOD, "scorecard": "other"}, 404, "scorecard"),
        ({"recording_id": recording, "answers": GOOD, "version": 7}, 404, "version 7"),
        ({"recording_id": recording, "answers": {"greet": True}}, 422, "unanswered"),
        ({"recording_id": recording, "answers": {**GOOD, "tone": 9}}, 422, "0..5"),
        ({"recording_id": recording, "answers": {**GOOD, "tone": "lots"}}, 422, ""),
    ]
    for extra, status, text in cases:
        body = {"scorecard": "standard", "evaluator": "eve", **extra}
        reply = await service.client.post("/evaluations", json=body)
        assert reply.status_code == status, (extra, reply.text)
        assert text in reply.text
    assert (await service.client.get("/evaluations")).json() == []
    assert (await service.client.get("/evaluations/nope")).status_code == 404


async def test_calibration_reports_the_spread_between_evaluators(
    start_service: ServiceFactory,
) -> None:
    service = await start_service()
    await service.client.put("/scorecards/standard", json=FORM_V1)
    recording = await stored_call(service, "call-cal", "ann")
    for evaluator, tone in (("eve", 5), ("ed", 3), ("em", 5)):
        reply = await service.client.post(
            "/evaluations",
            json={"recording_id": recording, "scorecard": "standard", "evaluator": evaluator,
                  "answers": {**GOOD, "tone": tone}, "calibration": "week-10"},
        )  # fmt: skip
        assert reply.status_code == 201
    report = (await service.client.get("/calibrations/week-10")).json()
    assert report["evaluators"] == 3
    assert report["scores"] == {"eve": 100.0, "ed": 80.0, "em": 100.0}
    assert (report["spread"], report["mean"]) == (20.0, 93.33)
    assert report["disagreements"] == ["tone"]
    assert (await service.client.get("/calibrations/none")).status_code == 404


async def test_sampling_picks_calls_per_agent_that_were_not_evaluated_yet(
    start_service: ServiceFactory,
) -> None:
    service = await start_service()
    await service.client.put("/scorecards/standard", json=FORM_V1)
    ann = [await stored_call(service, f"call-s-ann-{n}", "ann") for n in range(4)]
    bob = [await stored_call(service, f"call-s-bob-{n}", "bob", "sales") for n in range(1)]
    await service.client.post(
        "/evaluations",
        json={"recording_id": ann[0], "scorecard": "standard", "evaluator": "eve", "answers": GOOD},
    )
    now = datetime.now(UTC)
    period = {
        "since": (now - timedelta(days=7)).isoformat(),
        "until": (now + timedelta(minutes=1)).isoformat(),
    }
    picked = (
        await service.client.post("/qa/samples", json={"per_agent": 2, "seed": 1, **period})
    ).json()
    assert len(picked["picked"]["ann"]) == 1  # two a week, one already done
    assert ann[0] not in picked["picked"]["ann"]
    assert picked["picked"]["bob"] == bob
    assert picked["short"] == {"bob": 1}
    sales = await service.client.post(
        "/qa/samples", json={"per_agent": 2, "queue": "sales", **period}
    )
    assert set(sales.json()["picked"]) == {"bob"}
    backwards = {"since": period["until"], "until": period["since"]}
    bad = await service.client.post("/qa/samples", json={"per_agent": 2, **backwards})
    assert bad.status_code == 422
