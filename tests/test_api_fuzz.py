"""schemathesis over the routing and metrics OpenAPI: every answer is documented and matches its
schema, none is a server error, none hangs. Each service runs for real (uvicorn on a free port, on
a PostgreSQL database of its own, routing against the simulator) with a bounded number of
generated requests per operation. PostgreSQL, not SQLite: it is what runs in production, and it
refuses inputs SQLite takes (text holding NUL, text longer than its column)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cc_common.testing import TEST_SERVICE_TOKEN
from cc_metrics.app import create_app as create_metrics
from cc_metrics.settings import MetricsSettings
from cc_routing.app import create_app as create_routing
from cc_routing.settings import RoutingSettings
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.simulator import Simulator
from cc_sim.switches import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = 15
"""Generated requests per operation and mode: keeps a run to a couple of minutes."""
HANG_SECONDS = 20.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

AppFactory = Callable[[Path, str], AbstractAsyncContextManager[FastAPI]]


@asynccontextmanager
async def routing_app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    routes = (("default", "8000", tuple(parse_actions("set:cc_queue=sales;park"))),)
    async with Simulator(SimConfig(esl_port=0, routes=routes, seed=5)) as sim:
        settings = RoutingSettings(
            tenant="fuzz",
            database_url=database_url,
            amqp_url=f"memory://fuzz-routing-{tmp_path.name}",
            esl_port=sim.esl_port,
            service_token=TEST_SERVICE_TOKEN,
        )
        yield create_routing(settings)


@asynccontextmanager
async def metrics_app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    settings = MetricsSettings(
        tenant="fuzz",
        database_url=database_url,
        amqp_url=f"memory://fuzz-metrics-{tmp_path.name}",
        service_token=TEST_SERVICE_TOKEN,
        metrics_queues=["sales"],
        metrics_staffing_seconds=5.0,
    )
    yield create_metrics(settings)


@contextmanager
def serving(factory: AppFactory, tmp_path: Path, database_url: str) -> Iterator[str]:
    """Run the app under uvicorn in a thread of its own; yield its base URL."""
    port = free_port()
    started = threading.Event()
    stop = threading.Event()
    failure: list[BaseException] = []

    async def run() -> None:
        async with factory(tmp_path, database_url) as app:
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            routing = getattr(app.state, "routing", None)
            while routing is not None and not routing.live.is_set() and not task.done():
                await asyncio.sleep(0.05)
            started.set()
            while not stop.is_set() and not task.done():
                await asyncio.sleep(0.1)
            server.should_exit = True
            await task

    def thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)
        finally:
            started.set()

    runner = threading.Thread(target=thread, daemon=True)
    runner.start()
    assert started.wait(60), "the service did not start"
    assert not failure, failure
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        runner.join(30)
    assert not failure, failure


def fuzz(base_url: str) -> list[str]:
    """Run every operation in both modes; return one line per failing operation."""
    auth = {"Authorization": f"Bearer {TEST_SERVICE_TOKEN}"}
    document = requests.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    problems: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            problems.append(f"the OpenAPI is invalid: {result.err()}")
            continue
        operation = result.ok()
        raw = operation.definition.raw
        takes_input = bool(raw.get("parameters") or raw.get("requestBody"))
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE][: 2 if takes_input else 1]
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(
                    base_url=base_url,
                    session=session,
                    headers=auth,
                    checks=CHECKS,
                    timeout=HANG_SECONDS,
                )

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:
                problems.append(f"{operation.label} [{mode.value}]: {exc}"[:800])
    return problems


@pytest.mark.parametrize("factory", [routing_app, metrics_app], ids=["routing", "metrics"])
def test_the_api_keeps_to_its_openapi_under_fuzzing(
    factory: AppFactory, tmp_path: Path, pg_url: str
) -> None:
    with serving(factory, tmp_path, pg_url) as base_url:
        problems = fuzz(base_url)
        assert requests.get(f"{base_url}/healthz", timeout=5).status_code == 200
    assert not problems, "\n\n".join(problems)
