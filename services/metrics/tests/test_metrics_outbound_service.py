"""Outbound KPIs end to end: dialer events over RabbitMQ in, PostgreSQL rows, reports out."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from cc_metrics.testing import T0, Events, dialer_day, machine_day
from cc_proto.events import DialerMachineDetected

pytestmark = pytest.mark.integration

RANGE = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}


def figures(row: dict[str, Any]) -> dict[str, float | None]:
    return {key: kpi["value"] for key, kpi in row["kpis"].items()}


async def test_dialer_events_through_rabbitmq_give_the_campaign_kpis(start_service: Any) -> None:
    service = await start_service()
    e = Events()
    events = [*dialer_day(e), e.dialled("winback", "w1", 5)]
    for event in events:
        await service.publisher.publish(event)
    await service.wait_processed(len(events))

    total = await service.get(
        "/reports/campaigns", campaign="renewals", granularity="total", **RANGE
    )
    assert total.status_code == 200, total.text
    [row] = total.json()["rows"]
    assert row["key"] == "renewals"
    assert figures(row) == {
        "dial_attempts": 10,
        "connect_rate": pytest.approx(0.4),
        "right_party_contact_rate": pytest.approx(0.5),
        "outbound_abandon_rate": pytest.approx(0.25),
        "machine_answer_rate": pytest.approx(0.1),
        "average_connect_wait": pytest.approx(1.0),
    }
    abandon = row["kpis"]["outbound_abandon_rate"]
    assert (abandon["numerator"], abandon["denominator"]) == (1, 4)

    quarter = await service.get(
        "/reports/campaigns", granularity="15m", facts="true", kpi="connect_rate", **RANGE
    )
    rows = [
        (r["key"], r["bucket_start"], r["facts"]["live_answers"]) for r in quarter.json()["rows"]
    ]
    assert rows[:2] == [
        ("renewals", T0.isoformat().replace("+00:00", "Z"), 3.0),
        ("renewals", (T0 + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"), 1.0),
    ]
    assert {r[0] for r in rows} == {"renewals", "winback"}

    csv = await service.get(
        "/reports/campaigns", campaign="renewals", granularity="total", format="csv", **RANGE
    )
    assert csv.text.splitlines()[1].startswith("renewals,,10")

    rule = await service.get(
        "/reports/campaigns/abandon-rule", at=(T0 + timedelta(hours=2)).isoformat()
    )
    assert rule.status_code == 200, rule.text
    by_campaign = {r["campaign"]: r for r in rule.json()}
    assert by_campaign["renewals"]["abandon_rate"]["value"] == pytest.approx(0.25)
    assert by_campaign["winback"]["abandon_rate"]["no_data"] == "no live answers"
    later = await service.get(
        "/reports/campaigns/abandon-rule",
        campaign="renewals",
        at=(T0 + timedelta(days=31)).isoformat(),
    )
    [gone] = later.json()  # the day is out of the 30-day window
    assert gone["abandon_rate"]["value"] is None


async def test_machines_found_before_and_after_the_bridge_are_not_live_answers(
    start_service: Any,
) -> None:
    """machine_day over RabbitMQ into PostgreSQL, l2's beep first and replayed: its answer
    leaves the live ones in the 09:00 interval its dialer.connected counted in."""
    service = await start_service()
    e = Events()
    events = machine_day(e)
    beep = next(
        ev for ev in events if isinstance(ev.data, DialerMachineDetected) and ev.data.after_bridge
    )
    ordered = [beep, *(ev for ev in events if ev is not beep), beep]  # before its connect, twice
    last = e.dialled("winback", "w1", 5)
    for event in [*ordered, last]:
        await service.publisher.publish(event)
    await service.wait_processed(len(events) + 1)

    total = await service.get(
        "/reports/campaigns", campaign="renewals", granularity="total", **RANGE
    )
    [row] = total.json()["rows"]
    assert figures(row) == {
        "dial_attempts": 4,
        "connect_rate": pytest.approx(2 / 4),
        "right_party_contact_rate": pytest.approx(1 / 2),
        "outbound_abandon_rate": pytest.approx(1 / 2),
        "machine_answer_rate": pytest.approx(2 / 4),
        "average_connect_wait": pytest.approx(0.5),
    }
    quarter = await service.get(
        "/reports/campaigns", campaign="renewals", granularity="15m", facts="true", **RANGE
    )
    by_interval = {r["bucket_start"]: r["facts"] for r in quarter.json()["rows"]}
    first = by_interval[T0.isoformat().replace("+00:00", "Z")]
    assert (first["live_answers"], first["connected"], first["machine_answers"]) == (2, 1, 2)
    assert all(
        facts.get("live_answers", 0) == 0 and facts.get("machine_answers", 0) == 0
        for start, facts in by_interval.items()
        if start != T0.isoformat().replace("+00:00", "Z")
    )  # the beep at 09:15:05 changed nothing in its own interval
    rule = await service.get(
        "/reports/campaigns/abandon-rule",
        campaign="renewals",
        at=(T0 + timedelta(hours=2)).isoformat(),
    )
    [renewals] = rule.json()
    assert renewals["abandon_rate"]["value"] == pytest.approx(1 / 2)  # l4 over l1 and l4


@pytest.mark.parametrize(
    ("path", "params", "status", "reason"),
    [
        ("/reports/campaigns", {"campaign": "nobody", **RANGE}, 404, "unknown campaign: nobody"),
        ("/reports/campaigns", {"kpi": "service_level", **RANGE}, 400, "not reported per campaign"),
        ("/reports/campaigns", {"kpi": "sales", **RANGE}, 400, "unknown KPI"),
        ("/reports/campaigns/abandon-rule", {"campaign": "nobody"}, 404, "unknown campaign"),
        ("/reports/campaigns/abandon-rule", {"campaign": "a\x00b"}, 400, "control character"),
        ("/reports/campaigns", {"campaign": "a\x00b", **RANGE}, 400, "control character"),
        ("/reports/campaigns/abandon-rule", {"at": "2025-03-03T09:00:00"}, 400, "UTC offset"),
        ("/reports/campaigns/abandon-rule", {"at": "0001-01-01T00:00:00Z"}, 400, "2000-2100"),
    ],
)
async def test_bad_campaign_report_requests_get_a_4xx_with_the_reason(
    start_service: Any, path: str, params: dict[str, Any], status: int, reason: str
) -> None:
    service = await start_service()
    response = await service.get(path, **params)
    assert response.status_code == status, response.text
    assert reason in json.dumps(response.json())


async def test_poison_dialer_events_are_dead_lettered_with_the_reason(start_service: Any) -> None:
    service = await start_service()
    e = Events()
    publisher = service.publisher
    negative = json.loads(e.dial_dropped("renewals", "l1", 10).to_json())
    negative["data"]["wait_seconds"] = -3
    await publisher.publish_raw(json.dumps(negative).encode(), routing_key="acme.dialer.dropped")
    await publisher.publish(e.dialled("renewals\u2028x", "l2", 11))
    good = e.dialled("renewals", "l3", 12)
    await publisher.publish(good)
    await service.wait_processed(1)
    reasons: list[str] = []
    async with asyncio.timeout(30):
        while len(reasons) < 2:
            reasons += [
                d.reason for d in await publisher.dead_letters(service.settings.consumer_queue)
            ]
            await asyncio.sleep(0.1)
    joined = " | ".join(sorted(reasons))
    assert len(reasons) == 2, joined
    assert "wait_seconds" in joined
    assert "campaign: a name" in joined
    total = await service.get("/reports/campaigns", granularity="total", **RANGE)
    assert [(r["key"], r["kpis"]["dial_attempts"]["value"]) for r in total.json()["rows"]] == [
        ("renewals", 1)
    ]
    assert await service.processed() == 1
