"""A real Prometheus scrapes the running metrics service; every dashboard panel's query has data.

The service runs as it does in production (uvicorn, its lifespan, the bus consumer, the
database), on the embedded defaults (SQLite, in-process bus) so the test needs no broker; the
events reach it over the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from cc_common.bus import Bus, connect_bus
from cc_metrics.app import create_app
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.monitoring.dashboards import dashboards, panel_queries, render
from cc_metrics.monitoring.files import RULES_FILE, generated_files
from cc_metrics.settings import MetricsSettings
from cc_metrics.testing import Events
from cc_proto import Envelope, EventData
from cc_proto.events import (
    AgentState,
    CallBlocked,
    CallIvrCompleted,
    CallQueued,
    CallTransferred,
    QaEvaluated,
    SurveyCompleted,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

S = AgentState
SCRAPE_SECONDS = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prometheus:
    """A throwaway Prometheus on 127.0.0.1 with the generated rules, scraping one target."""

    def __init__(self, workdir: Path, target: str) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: apt-get install -y prometheus (Debian's package)"
        (workdir / "rules.yml").write_text(generated_files()[RULES_FILE], encoding="utf-8")
        config = {
            "global": {
                "scrape_interval": f"{SCRAPE_SECONDS}s",
                "evaluation_interval": f"{SCRAPE_SECONDS}s",
            },
            "rule_files": [str(workdir / "rules.yml")],
            "scrape_configs": [
                {"job_name": "cc-metrics", "static_configs": [{"targets": [target]}]}
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (workdir / "prometheus.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.client = httpx.AsyncClient(base_url=self.url, timeout=5.0)

    async def wait_until(
        self, condition: Callable[[], Awaitable[bool]], within: float, what: str
    ) -> None:
        async with asyncio.timeout(within):
            while True:
                assert self.process.poll() is None, "prometheus exited"
                with contextlib.suppress(httpx.TransportError):
                    if await condition():
                        return
                await asyncio.sleep(0.2)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def stop(self) -> None:
        await self.client.aclose()
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
async def service_and_prometheus(tmp_path: Path) -> AsyncIterator[tuple[Bus, Prometheus]]:
    """Run the metrics service under uvicorn and a Prometheus scraping it; yield a publisher."""
    bus_url = f"memory://prometheus-test-{uuid.uuid4().hex}"
    settings = MetricsSettings(
        tenant="acme",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/metrics.sqlite3",
        amqp_url=bus_url,
        metrics_queues=["sales", "support"],
        metrics_teams=["blue", "green"],
        break_reasons=["lunch"],
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{port}")
    publisher = connect_bus(bus_url, service="test")
    try:
        yield publisher, prometheus
    finally:
        await publisher.close()
        await prometheus.stop()
        server.should_exit = True
        await serving


def batches(now: datetime) -> list[list[Envelope[EventData]]]:
    """A small working day in three parts, timed just before ``now``."""
    e = Events(start=now)
    first = [
        e.logged_in("a1", -9, ("sales", "support")),
        e.logged_in("a2", -9, ("sales",)),
        e.logged_in("a3", -9, ("sales",)),
        e.logged_in("a4", -9, ("support",), team="green"),
        e.state("a1", S.LOGGED_OUT, S.AVAILABLE, -9),
        e.state("a2", S.LOGGED_OUT, S.AVAILABLE, -9),
        e.state("a3", S.LOGGED_OUT, S.BREAK, -9, reason="lunch"),
        e.state("a4", S.LOGGED_OUT, S.AVAILABLE, -9, team="green"),
        e.offered("c1", "sales", -8),
        e.make(CallQueued(queue="sales", position=1, estimated_wait_seconds=30), -8, call_id="c1"),
        e.agent_offered("c1", "sales", "a1", -6),
        e.state("a1", S.AVAILABLE, S.RESERVED, -6, since=-9),
        e.answered("c1", "sales", "a1", -4, wait=4, ring=2),
        e.state("a1", S.RESERVED, S.ON_CALL, -4, since=-6),
        e.offered("c2", "support", -8),
        e.abandoned("c2", "support", -5, wait=3),
        e.offered("c3", "support", -30),
        e.abandoned("c3", "support", -5, wait=25),
        e.make(CallBlocked(queue="sales", reason="queue_full"), -3, call_id="c4"),
        e.make(
            CallIvrCompleted(flow="main", outcome="ended", duration_seconds=20), -2, call_id="c5"
        ),
        e.offered("c6", "sales", -2),
        e.agent_missed("c6", "sales", "a2", -1, ring=1),
    ]
    second = [
        e.make(
            CallTransferred(kind="blind", target_kind="number", target="+4930"),
            -1,
            call_id="c1",
            agent_id="a1",
        ),
        e.ended("c1", 0, queue="sales", agent="a1", talk=4, hold=0),
        e.state("a1", S.ON_CALL, S.WRAP_UP, 0, since=-4),
        e.make(SurveyCompleted(csat=1, nps=9, fcr=True), 1, call_id="c1"),
        e.make(
            QaEvaluated(
                evaluation_id="e1",
                recording_id="r1",
                scorecard="std",
                scorecard_version=1,
                evaluator="eve",
                percent=90,
                passed=True,
            ),
            1,
            call_id="c1",
            agent_id="a1",
        ),
        e.offered("c7", "support", -14),
        e.answered("c7", "support", "a4", 1, wait=15, ring=1),
        e.state("a4", S.AVAILABLE, S.ON_CALL, 1, since=-9, team="green"),
        e.offered("c8", "support", 1),
    ]
    third = [
        e.state("a1", S.WRAP_UP, S.AVAILABLE, 2, since=0, call="c1"),
        e.ended("c7", 2, queue="support", agent="a4", talk=1),
        e.state("a4", S.ON_CALL, S.WRAP_UP, 2, since=1, team="green"),
        e.make(SurveyCompleted(csat=3, nps=4), 3, call_id="c7"),
        e.offered("c9", "sales", 0),
        e.answered("c9", "sales", "a2", 3, wait=3, ring=1),
        e.state("a2", S.AVAILABLE, S.ON_CALL, 3, since=-9),
    ]
    return [first, second, third]


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    values = [float(series["value"][1]) for series in result]
    return [v for v in values if math.isfinite(v)]


async def test_every_dashboard_panel_returns_data(
    service_and_prometheus: tuple[Bus, Prometheus],
) -> None:
    publisher, prometheus = service_and_prometheus

    async def scraped() -> bool:
        return bool(await prometheus.query('up{job="cc-metrics"} == 1'))

    await prometheus.wait_until(scraped, 30, "the first scrape")
    for batch in batches(datetime.now(UTC)):
        for event in batch:
            await publisher.publish(event)
        await asyncio.sleep(2.5 * SCRAPE_SECONDS)  # each batch seen by at least two scrapes
    queries = [
        (board.uid, title, expr.replace("$queue", ".*").replace("$team", ".*"))
        for board in dashboards(Thresholds())
        for title, expr in panel_queries(render(board))
    ]
    assert len(queries) > 30

    async def empty() -> list[tuple[str, str, str]]:
        return [q for q in queries if not finite_values(await prometheus.query(q[2]))]

    async def all_have_data() -> bool:
        return not await empty()

    with contextlib.suppress(TimeoutError):
        await prometheus.wait_until(all_have_data, 30, "every panel to have data")
    assert await empty() == []

    answered = 'sum(cc_queue_wait_seconds_count{outcome="answered"})'
    assert finite_values(await prometheus.query(answered)) == [3.0]
    waiting = await prometheus.query("queue:cc_queue_longest_wait_seconds:max")
    assert {s["metric"]["queue"] for s in waiting} == {"sales", "support"}
    qa = 'sum(cc_qa_score_ratio_sum{team="blue"}) / sum(cc_qa_score_ratio_count{team="blue"})'
    assert finite_values(await prometheus.query(qa)) == [pytest.approx(0.9)]
    consuming = await prometheus.query("cc_metrics_consumer_up")
    assert finite_values(consuming) == [1.0]
