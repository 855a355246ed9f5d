"""The app factory: health, readiness that names what is down, and an app-local metrics registry."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI

from cc_common.app import add_readiness_check, create_service_app
from cc_common.settings import ServiceSettings


def build(broken: bool, closed: list[str]) -> FastAPI:
    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        stack.callback(closed.append, "resource")

        async def database() -> None:
            return None

        async def broker() -> None:
            if broken:
                raise ConnectionError("connection refused")

        add_readiness_check(app, "database", database)
        add_readiness_check(app, "bus", broker)

    return create_service_app(settings=ServiceSettings(), title="demo", startup=startup)


async def call(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        return await client.get(path)


async def test_ready_when_every_dependency_answers() -> None:
    closed: list[str] = []
    app = build(broken=False, closed=closed)
    async with app.router.lifespan_context(app):
        health = await call(app, "/healthz")
        ready = await call(app, "/readyz")
        metrics = await call(app, "/metrics")
    assert health.json() == {"status": "ok", "service": "demo"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "bus": "ok"}
    assert 'cc_service_up{service="demo"} 1.0' in metrics.text
    assert closed == ["resource"]  # the lifespan closed what startup opened


async def test_not_ready_names_the_dependency_that_is_down() -> None:
    app = build(broken=True, closed=[])
    async with app.router.lifespan_context(app):
        ready = await call(app, "/readyz")
        health = await call(app, "/healthz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["bus"] == "failed: ConnectionError: connection refused"
    assert health.status_code == 200  # alive, just not ready


async def test_two_apps_in_one_process_keep_separate_metrics() -> None:
    first, second = build(False, []), build(False, [])
    assert first.state.registry is not second.state.registry
