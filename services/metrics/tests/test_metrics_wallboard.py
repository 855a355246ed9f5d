"""The wallboard's figures: today's KPIs per queue and interval, live state, never misleading.

No calls is "no data" (None), not 0 % or 100 %; an agent free with nobody waiting is an expected
wait of 0, not the morning's last estimate; calls that never reached a queue (empty queue label)
count in the totals but make no queue row and no NaN; the page, its files and its live stream are
served by the metrics app.
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cc_metrics.app import create_app
from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.live import QueueLive, estimated_wait
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.exposition import LiveMetrics
from cc_metrics.settings import MetricsSettings
from cc_metrics.testing import Clock, Events
from cc_metrics.wallboard.board import Wallboard
from cc_proto.events import AgentState, CallBlocked, CallQueued

E = Events()
S = AgentState


def board(queues: tuple[str, ...] = ("sales", "support")) -> tuple[Wallboard, LiveMetrics, Clock]:
    engine = MetricsEngine(tenant="acme", thresholds=Thresholds(), queues=queues, teams=["blue"])
    clock = Clock(E.at(0))
    live = LiveMetrics(engine, registry=CollectorRegistry(), clock=clock)
    wall = Wallboard(engine, Thresholds(), ZoneInfo("UTC"))
    live.listeners.append(wall.apply)
    return wall, live, clock


def feed(live: LiveMetrics, clock: Clock, *events: object) -> None:
    for event in events:
        outcome = live.engine.apply(event)  # type: ignore[arg-type]
        live.record(outcome, now=clock())


def test_no_calls_is_no_data_not_zero_or_full() -> None:
    wall, _, clock = board()
    snap = wall.snapshot(clock())
    for queue in snap["queues"]:
        assert queue["offered"] == 0
        assert queue["service_level"] is None
        assert queue["abandon_rate"] is None
        assert queue["asa"] is None
    assert snap["total"]["service_level"] is None


def test_todays_figures_per_queue_and_interval() -> None:
    wall, live, clock = board()
    feed(
        live,
        clock,
        E.logged_in("a1", 0, queues=("sales",)),
        E.offered("c1", "sales", 10),
        E.answered("c1", "sales", "a1", 18, wait=8),
        E.offered("c2", "sales", 20),
        E.abandoned("c2", "sales", 80, wait=60),
        E.offered("c3", "sales", 1000),
    )
    clock.now = E.at(1010)
    snap = wall.snapshot(clock())
    sales = next(q for q in snap["queues"] if q["name"] == "sales")
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (3, 1, 1)
    assert sales["service_level"] == pytest.approx(1 / 3)
    assert sales["abandon_rate"] == pytest.approx(1 / 3)
    assert sales["asa"] == 8
    assert sales["waiting"] == 1
    assert sales["longest_wait_seconds"] == pytest.approx(10)
    assert [i["start"] for i in snap["intervals"]] == ["09:00", "09:15"]
    assert [i["offered"] for i in snap["intervals"]] == [2, 1]
    assert snap["intervals"][1]["service_level"] == 0.0  # c3 waits: counted offered, not yet in
    agent = snap["agents"][0]
    assert agent["id"] == "a1"
    assert agent["queues"] == ["sales"]


def test_an_empty_queue_label_makes_no_row_and_no_nan() -> None:
    wall, live, clock = board(queues=("sales",))
    feed(live, clock, E.make(CallBlocked(queue=None, reason="no_capacity"), 5, call_id="c9"))
    snap = wall.snapshot(clock())
    assert [q["name"] for q in snap["queues"]] == ["sales"]
    assert snap["total"]["blocked"] == 1
    assert snap["total"]["service_level"] is None
    json.dumps(snap, allow_nan=False)


def test_expected_wait_is_zero_while_an_agent_is_free_and_nobody_waits() -> None:
    queue = QueueLive(estimated_wait_seconds=240.0)  # announced at the morning peak
    assert estimated_wait(queue, available=1, staffed=3) == 0.0
    assert estimated_wait(queue, available=0, staffed=3) == 240.0
    assert estimated_wait(queue, available=0, staffed=0) is None
    queue.waiting["c1"] = E.at(0)
    assert estimated_wait(queue, available=1, staffed=3) == 240.0


def test_expected_wait_in_prometheus_follows_the_agents() -> None:
    _, live, clock = board(queues=("sales",))
    feed(
        live,
        clock,
        E.logged_in("a1", 0, queues=("sales",)),
        E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 0),
        E.offered("c1", "sales", 10),
        E.make(CallQueued(queue="sales", position=1, estimated_wait_seconds=90), 10, call_id="c1"),
        E.answered("c1", "sales", "a1", 20, wait=10),
        E.state("a1", S.ON_CALL, S.AVAILABLE, 200),
    )
    text = generate_latest(live.registry).decode()
    assert 'cc_queue_estimated_wait_seconds{queue="sales"} 0.0' in text


async def test_the_page_its_files_and_its_stream_are_served(tmp_path: object) -> None:
    settings = MetricsSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3",
        amqp_url="memory://wallboard-test",
        metrics_queues=["sales"],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            page = await client.get("/wallboard")
            assert page.status_code == 200
            assert "/wallboard/static/wallboard.js" in page.text
            script = await client.get("/wallboard/static/wallboard.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert "EventSource" in script.text
            assert (await client.get("/wallboard/static/secrets.txt")).status_code == 404
            snap = (await client.get("/wallboard/snapshot")).json()
            assert [q["name"] for q in snap["queues"]] == ["sales"]
            app.state.wallboard.close()  # the stream sends its snapshot and ends
            stream = await client.get("/wallboard/stream")
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.text.count("event: snapshot") == 1
            data = stream.text.split("data: ", 1)[1].split("\n", 1)[0]
            assert [q["name"] for q in json.loads(data)["queues"]] == ["sales"]
