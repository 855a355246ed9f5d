"""The metrics service end to end: RabbitMQ in, PostgreSQL tables, reports and CDR API out."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from datetime import timedelta
from typing import Any

import pytest

from cc_metrics.testing import T0, Clock, Events, SimRun, simulate_run
from cc_proto.events import AgentState, CallOutcome, QaEvaluated

pytestmark = pytest.mark.integration

S = AgentState
START, END = T0, T0 + timedelta(hours=4)
RANGE = {"start": START.isoformat(), "end": END.isoformat()}
BACKWARDS = {"start": END.isoformat(), "end": START.isoformat()}
UNALIGNED = {"start": (START + timedelta(minutes=7)).isoformat(), "end": END.isoformat()}
NAIVE = {"start": "2025-03-03T09:00:00", "end": END.isoformat()}


@pytest.fixture(scope="module")
def run() -> SimRun:
    return simulate_run(seed=21, agents=6, calls_per_hour=110, duration_seconds=2 * 3600)


async def publish_all(service: Any, events: list[Any]) -> None:
    for event in events:
        await service.publisher.publish(event)


def kpi(body: dict[str, Any], key: str, row: int = 0) -> float | None:
    value: float | None = body["rows"][row]["kpis"][key]["value"]
    return value


async def test_a_simulated_run_through_rabbitmq_gives_its_own_figures(
    start_service: Any, run: SimRun
) -> None:
    service = await start_service()
    await publish_all(service, run.events)
    await service.wait_processed(len(run.events))

    queue = await service.get("/reports/queues", queue="sales", granularity="total", **RANGE)
    assert queue.status_code == 200, queue.text
    answered = [c for c in run.calls if c.answered is not None]
    short = [c for c in run.calls if c.abandoned is not None and c.wait <= 5]
    within = [c for c in answered if c.wait <= 20]
    body = queue.json()
    assert kpi(body, "service_level") == pytest.approx(len(within) / (len(run.calls) - len(short)))
    assert kpi(body, "asa") == pytest.approx(sum(c.wait for c in answered) / len(answered))
    assert kpi(body, "total_calls") == len(run.calls)

    tenant = await service.get("/reports/tenant", granularity="total", kpi="occupancy", **RANGE)
    occupancy = run.busy_seconds / (run.busy_seconds + run.idle_seconds)
    assert kpi(tenant.json(), "occupancy") == pytest.approx(occupancy)


async def test_replayed_and_shuffled_events_change_no_figure(
    start_service: Any, run: SimRun
) -> None:
    service = await start_service()
    await publish_all(service, run.events)
    await service.wait_processed(len(run.events))
    before = await service.get("/reports/queues", granularity="1h", facts="true", **RANGE)
    again = list(run.events)
    random.Random(4).shuffle(again)
    await publish_all(service, again)
    await service.publisher.publish(Events().offered("late-call", "sales", 60))
    await service.wait_processed(len(run.events) + 1)
    after = await service.get("/reports/queues", granularity="1h", facts="true", **RANGE)
    rows_before, rows_after = before.json()["rows"], after.json()["rows"]
    nine = next(i for i, r in enumerate(rows_after) if r["bucket_start"] == "2025-03-03T09:00:00Z")
    assert rows_after[nine]["facts"]["offered"] == rows_before[nine]["facts"]["offered"] + 1
    rows_after[nine]["facts"]["offered"] -= 1
    for row_before, row_after in zip(rows_before, rows_after, strict=True):
        assert row_after["facts"] == pytest.approx(row_before["facts"])


async def test_hours_add_up_to_the_day_and_csv_matches_json(
    start_service: Any, run: SimRun
) -> None:
    service = await start_service()
    await publish_all(service, run.events)
    await service.wait_processed(len(run.events))
    hours = (await service.get("/reports/queues", queue="sales", facts="true", **RANGE)).json()
    day = await service.get(
        "/reports/queues", queue="sales", granularity="1d", facts="true", tz="Europe/Berlin",
        start=START.isoformat(), end=(START + timedelta(hours=12)).isoformat(),
    )  # fmt: skip
    [whole] = day.json()["rows"]
    assert whole["bucket_start"] == "2025-03-02T23:00:00Z"  # midnight in Berlin
    for fact in ("offered", "answered", "answered_within_20s", "talk_seconds"):
        assert sum(r["facts"][fact] for r in hours["rows"]) == pytest.approx(whole["facts"][fact])
    text = (await service.get("/reports/queues", queue="sales", format="csv", **RANGE)).text
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(lines) == len(hours["rows"]) == 4
    for line, row in zip(lines, hours["rows"], strict=True):
        value = row["kpis"]["service_level"]["value"]
        assert line["service_level"] == ("" if value is None else repr(value))


async def test_call_detail_records_page_by_cursor_and_filter(
    start_service: Any, run: SimRun
) -> None:
    service = await start_service()
    callers = [
        Events().offered("caller-1", "sales", 60, caller_number="+33612345678"),
        Events().offered("caller-2", "sales", 90, caller_number="+33612345679"),
        Events().offered("caller-3", "sales", 120, caller_number="+33612345678"),
    ]
    await publish_all(service, [*run.events, *callers])
    await service.wait_processed(len(run.events) + len(callers))
    mine = (await service.get("/cdrs", caller_number="+33612345678", **RANGE)).json()
    assert [item["call_id"] for item in mine["items"]] == ["caller-1", "caller-3"]
    prefix = (await service.get("/cdrs", caller_number="+336123456", **RANGE)).json()
    assert prefix["items"] == []  # exact match only
    seen: list[str] = []
    cursor = None
    while True:
        params = {**RANGE, "limit": 37, **({"cursor": cursor} if cursor else {})}
        page = (await service.get("/cdrs", **params)).json()
        seen += [item["call_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(
        [c.call_id for c in run.calls] + ["caller-1", "caller-2", "caller-3"]
    )
    assert len(seen) == len(set(seen))
    abandoned = (await service.get("/cdrs", outcome="abandoned", limit=1000, **RANGE)).json()
    expected = {c.call_id for c in run.calls if c.abandoned is not None}
    assert {item["call_id"] for item in abandoned["items"]} == expected
    answered = next(c for c in run.calls if c.answered is not None)
    one = (await service.get(f"/cdrs/{answered.call_id}")).json()
    assert one["agent_id"] == answered.agent
    assert one["wait_seconds"] == pytest.approx(answered.wait)
    assert one["wrap_up_seconds"] == 30.0
    assert (await service.get("/cdrs/nope")).status_code == 404
    assert (await service.get("/cdrs", cursor="!!", **RANGE)).status_code == 400


@pytest.mark.parametrize(
    ("path", "params", "status", "reason"),
    [
        ("/reports/queues", BACKWARDS, 400, "must be after"),
        ("/reports/queues", UNALIGNED, 400, "15-minute boundary"),
        ("/reports/queues", {**RANGE, "granularity": "5m"}, 400, "finer than the data"),
        ("/reports/queues", {**RANGE, "granularity": "fortnight"}, 400, "unknown granularity"),
        ("/reports/queues", {**RANGE, "queue": "nosuch"}, 404, "unknown queue: nosuch"),
        ("/reports/agents", {**RANGE, "agent": "ghost"}, 404, "unknown agent: ghost"),
        ("/reports/queues", {**RANGE, "tz": "Mars/Base"}, 400, "unknown time zone"),
        ("/reports/queues", NAIVE, 400, "UTC offset"),
        ("/reports/queues", {**RANGE, "kpi": "occupancy"}, 400, "not reported per queue"),
        ("/reports/queues", {**RANGE, "service_level_seconds": 25}, 400, "one of"),
        ("/reports/queues", {"start": "yesterday", "end": END.isoformat()}, 422, "datetime"),
        ("/cdrs", BACKWARDS, 400, "must be after"),
    ],
)  # fmt: skip
async def test_bad_report_requests_get_a_4xx_with_the_reason(
    start_service: Any, path: str, params: dict[str, Any], status: int, reason: str
) -> None:
    service = await start_service()
    response = await service.get(path, **params)
    assert response.status_code == status
    assert reason in json.dumps(response.json())


async def test_a_configured_queue_without_calls_reports_no_data_not_zero(
    start_service: Any,
) -> None:
    service = await start_service()
    body = (
        await service.get("/reports/queues", queue="support", granularity="total", **RANGE)
    ).json()
    [row] = body["rows"]
    assert row["kpis"]["service_level"] == {
        "value": None, "numerator": 0.0, "denominator": 0.0, "no_data": "no calls offered",
    }  # fmt: skip
    assert row["kpis"]["total_calls"]["value"] == 0


async def test_out_of_contract_events_are_dead_lettered_with_the_reason(
    start_service: Any,
) -> None:
    service = await start_service()
    e = Events()
    good = e.offered("c1", "sales", 0)
    no_call = e.make(e.offered("x", "sales", 0).data, 0)
    wrong_tenant = Events(tenant="other").offered("c2", "sales", 0)
    publisher = service.publisher
    await publisher.publish_raw(b"{not json", routing_key="acme.call.offered")
    await publisher.publish_raw(
        json.dumps({**json.loads(good.to_json()), "type": "call.teleported"}).encode(),
        routing_key="acme.call.teleported",
    )
    missing = json.loads(e.answered("c1", "sales", "a1", 5, wait=5).to_json())
    del missing["data"]["wait_seconds"]
    await publisher.publish_raw(json.dumps(missing).encode(), routing_key="acme.call.answered")
    await publisher.publish(no_call)
    await publisher.publish_raw(wrong_tenant.to_json(), routing_key="acme.call.offered")
    await publisher.publish(good)
    await service.wait_processed(1)
    reasons: list[str] = []
    for _ in range(100):
        reasons += [d.reason for d in await publisher.dead_letters(service.settings.consumer_queue)]
        if len(reasons) >= 5:
            break
        await asyncio.sleep(0.1)
    joined = " | ".join(sorted(reasons))
    assert len(reasons) == 5, joined
    for expected in ("not JSON", "unknown event type", "wait_seconds", "names no call_id",
                     "tenant 'other'"):  # fmt: skip
        assert expected in joined
    assert await service.processed() == 1


async def test_staffing_api_plans_14_agents_for_200_an_hour(start_service: Any) -> None:
    service = await start_service()
    body = {
        "intervals": [{"start": START.isoformat(), "calls": 200, "aht_seconds": 180}],
        "interval_minutes": 60, "target_service_level": 0.8, "threshold_seconds": 20,
        "shrinkage": 0.3, "trunk_blocking": 0.01, "trunk_holding_seconds": 180,
    }  # fmt: skip
    response = await service.client.post("/staffing", json=body)
    assert response.status_code == 200, response.text
    [plan] = response.json()["intervals"]
    assert (plan["agents"], plan["scheduled_agents"], plan["trunks"]) == (14, 20, 18)
    assert round(plan["service_level"], 4) == 0.8884
    bad = await service.client.post("/staffing", json={**body, "shrinkage": 1.5})
    assert bad.status_code == 422


async def test_schedules_and_costs_turn_on_adherence_attendance_and_cost_per_call(
    start_service: Any,
) -> None:
    service = await start_service()
    e = Events()
    events = [
        e.logged_in("a1", 0), e.state("a1", S.LOGGED_OUT, S.AVAILABLE, 120),
        e.offered("c1", "sales", 200), e.answered("c1", "sales", "a1", 210, wait=10),
        e.state("a1", S.AVAILABLE, S.ON_CALL, 210, since=120),
        e.ended("c1", 510, CallOutcome.ANSWERED, queue="sales", agent="a1", talk=300),
        e.state("a1", S.ON_CALL, S.LOGGED_OUT, 900, since=210), e.logged_out("a1", 900),
    ]  # fmt: skip
    await publish_all(service, events)
    await service.wait_processed(len(events))
    window = {"start": START.isoformat(), "end": (START + timedelta(minutes=15)).isoformat()}
    agent = {"agent": "a1", "granularity": "total", **window}
    before = (await service.get("/reports/agents", **agent)).json()
    assert (
        before["rows"][0]["kpis"]["adherence"]["no_data"]
        == "missing input: adherent_seconds, scheduled_seconds"
    )
    schedule = {
        "entries": [
            {
                "agent_id": "a1",
                "start": START.isoformat(),
                "end": (START + timedelta(minutes=15)).isoformat(),
                "activity": "work",
            }
        ]
    }
    assert (await service.client.post("/schedules", json=schedule)).status_code == 201
    cost = {"scope": "queue", "key": "sales", "amount": 12.5, **window}
    assert (await service.client.post("/costs", json=cost)).status_code == 201
    after = (await service.get("/reports/agents", **agent)).json()["rows"][0]["kpis"]
    assert after["adherence"]["value"] == pytest.approx(780 / 900)  # logged in 2 min late
    assert after["attendance"]["value"] == 1.0
    per_call = await service.get("/reports/queues", queue="sales", granularity="total", **window)
    assert kpi(per_call.json(), "cost_per_call") == 12.5
    bad = await service.client.post("/costs", json={**cost, "scope": "tenant"})
    assert bad.status_code == 422


def evaluated(percent: float, *, calibration: str | None = None) -> QaEvaluated:
    return QaEvaluated(
        evaluation_id=f"e-{percent}-{calibration}",
        recording_id="r",
        scorecard="std",
        scorecard_version=1,
        evaluator="eve",
        percent=percent,
        passed=percent >= 80,
        calibration=calibration,
    )


async def test_qa_evaluations_reach_the_agent_and_queue_reports_without_calibration(
    start_service: Any,
) -> None:
    service = await start_service()
    e = Events()
    events = [
        e.offered("c1", "sales", 60), e.answered("c1", "sales", "a1", 70, wait=10),
        e.ended("c1", 300, CallOutcome.ANSWERED, queue="sales", agent="a1", talk=230),
        e.offered("c2", "sales", 320), e.answered("c2", "sales", "a1", 330, wait=10),
        e.ended("c2", 600, CallOutcome.ANSWERED, queue="sales", agent="a1", talk=270),
        # scored the next day: the score counts where the call ended
        e.make(evaluated(90), 90_000, call_id="c1", agent_id="a1"),
        e.make(evaluated(70), 90_100, call_id="c2", agent_id="a1"),
        e.make(evaluated(10, calibration="week-1"), 90_200, call_id="c2", agent_id="a1"),
    ]  # fmt: skip
    await publish_all(service, events)
    await service.wait_processed(len(events))
    window = {"start": START.isoformat(), "end": (START + timedelta(minutes=15)).isoformat()}
    agent = await service.get("/reports/agents", agent="a1", granularity="total", **window)
    assert agent.status_code == 200, agent.text
    assert kpi(agent.json(), "qa_score") == pytest.approx(0.8)
    queue = await service.get("/reports/queues", queue="sales", granularity="total", **window)
    assert kpi(queue.json(), "qa_score") == pytest.approx(0.8)
    record = (await service.client.get("/cdrs/c2")).json()
    assert record["qa_score"] == pytest.approx(0.7)


async def test_a_restarted_service_continues_where_it_stopped(start_service: Any) -> None:
    e = Events()
    first = [
        e.logged_in("a1", 0), e.state("a1", S.LOGGED_OUT, S.AVAILABLE, 0),
        e.offered("c1", "sales", 10), e.answered("c1", "sales", "a1", 20, wait=10),
        e.state("a1", S.AVAILABLE, S.ON_CALL, 20, since=0),
        e.ended("c1", 100, CallOutcome.ANSWERED, queue="sales", agent="a1", talk=80),
        e.state("a1", S.ON_CALL, S.WRAP_UP, 100, since=20),
        e.offered("c2", "sales", 110),
    ]  # fmt: skip
    service = await start_service(clock=Clock(e.at(120)))
    await publish_all(service, first)
    await service.wait_processed(len(first))
    await service.stop()
    second = [e.state("a1", S.WRAP_UP, S.AVAILABLE, 130)]  # no since, no call id
    again = await start_service(clock=Clock(e.at(125)))
    live = again.app.state.runtime.engine.live.queues["sales"]
    assert live.waiting == {"c2": e.at(110)}
    await publish_all(again, second)
    await again.wait_processed(len(first) + 1)
    window = {"start": START.isoformat(), "end": (START + timedelta(minutes=15)).isoformat()}
    body = (await again.get("/reports/queues", queue="sales", granularity="total", **window)).json()
    assert kpi(body, "average_acw") == 30.0
    assert kpi(body, "aht") == 110.0


async def test_an_event_the_database_refuses_fails_alone(start_service: Any) -> None:
    service = await start_service()
    e = Events()
    poison = e.offered("c2", "sales", 5, caller_number="9" * 300)  # longer than the column
    events = [e.offered("c1", "sales", 0), poison, e.offered("c3", "sales", 9)]
    await publish_all(service, events)
    await service.wait_processed(2)
    dead: list[Any] = []
    async with asyncio.timeout(30):
        while not dead:
            dead = await service.publisher.dead_letters(service.settings.consumer_queue)
            await asyncio.sleep(0.1)
    [letter] = dead
    assert json.loads(letter.body)["call_id"] == "c2"
    assert "too long" in letter.reason
    assert await service.processed() == 2


async def test_an_unreachable_database_is_waited_out_without_losing_events(
    start_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from cc_metrics.adapters.store import MetricsStore

    service = await start_service()
    real_write = MetricsStore.write
    outages = [OperationalError("INSERT", {}, ConnectionRefusedError("database down"))] * 3
    seen_down: list[float] = []

    def consumer_up() -> float:
        value = service.app.state.registry.get_sample_value("cc_metrics_consumer_up")
        assert value is not None
        return float(value)

    async def flaky_write(self: MetricsStore, *args: Any, **kwargs: Any) -> None:
        if outages:  # fault injection: the next writes find the database unreachable
            seen_down.append(consumer_up())
            raise outages.pop()
        await real_write(self, *args, **kwargs)

    monkeypatch.setattr(MetricsStore, "write", flaky_write)
    e = Events()
    events = [e.offered(f"c{n}", "sales", n) for n in range(5)]
    await publish_all(service, events)
    await service.wait_processed(5)
    assert seen_down[1:] == [0.0, 0.0]  # the consumer reported itself down while waiting
    assert consumer_up() == 1.0
    assert await service.publisher.dead_letters(service.settings.consumer_queue) == []
    body = (
        await service.get("/reports/queues", queue="sales", granularity="total", **RANGE)
    ).json()
    assert kpi(body, "total_calls") == 5
