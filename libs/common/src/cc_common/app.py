"""The FastAPI app factory every service is built with.

A service supplies its routers and a ``startup`` coroutine that opens its resources on an
:class:`~contextlib.AsyncExitStack` (closed in reverse order at shutdown) and registers a
readiness check for each dependency. The factory adds ``/healthz`` (the process is alive),
``/readyz`` (every dependency answers) and ``/metrics`` (the app's own registry, so several apps
in one process never share or clash over series).

Every app also gets, once, here: the service token on its internal routers
(:mod:`cc_common.access`; ``open_routers`` such as the wallboard go without), the request body
cap, and RFC 9457 problem details for every error, written into its OpenAPI as well
(:mod:`cc_common.problems`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from pydantic import BaseModel

from cc_common.access import SERVICE_TOKEN_SCHEME, BodyLimit, require_service_token
from cc_common.bus import Bus, connect_bus
from cc_common.db import Database, is_postgres, migrations
from cc_common.logging import get_logger
from cc_common.problems import document_problems, install_problem_handlers
from cc_common.settings import ServiceSettings

log = get_logger(__name__)

Check = Callable[[], Awaitable[None]]
Startup = Callable[[FastAPI, AsyncExitStack], Awaitable[None]]

READINESS_TIMEOUT_SECONDS = 2.0


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    startup: Startup | None = None,
    routers: Sequence[APIRouter] = (),
    open_routers: Sequence[APIRouter] = (),
    registry: CollectorRegistry | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    """Build a service app: lifespan-managed resources, health, readiness and metrics routes.

    ``routers`` are the internal API and require the service token; ``open_routers`` (the
    wallboard, or routes with their own credentials) do not.
    """
    registry = registry or _new_registry()
    up = Gauge(
        "cc_service_up",
        "1 while the service's lifespan is running.",
        ["service"],
        registry=registry,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if settings.service_token is None:
                log.warning("service.no_token", service=title, effect="internal API admits no one")
            if startup is not None:
                await startup(app, stack)
            up.labels(title).set(1)
            log.info("service.started", service=title)
            yield
            up.labels(title).set(0)
            log.info("service.stopping", service=title)

    app = FastAPI(title=f"cc-{title}", version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.readiness = {}
    token = settings.service_token
    app.state.service_token = None if token is None else token.get_secret_value().encode()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.http_max_body_bytes)
    app.include_router(_ops_router(title))
    guard = [Depends(require_service_token)]
    for router in routers:
        app.include_router(router, dependencies=guard)
    for router in open_routers:
        app.include_router(router)
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI describe its errors as problem details, the 401s and the 413s."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(
                build(), body_limited=True, service_token_scheme=SERVICE_TOKEN_SCHEME
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _new_registry() -> CollectorRegistry:
    # `_created` series double every counter and histogram and no dashboard reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def add_readiness_check(app: FastAPI, name: str, check: Check) -> None:
    """Register a dependency for ``/readyz``; the check raises when the dependency is down."""
    app.state.readiness[name] = check


async def _run_check(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), timeout=READINESS_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means not ready; the reason goes in the body
        return f"failed: {type(exc).__name__}: {exc}"[:300]
    return "ok"


class Health(BaseModel):
    """The liveness answer."""

    status: str
    service: str


class Readiness(BaseModel):
    """The readiness answer: each dependency's check, ``ok`` or why it failed."""

    status: str
    service: str
    checks: dict[str, str]


def _ops_router(title: str) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        """Answer while the process is alive (the liveness probe)."""
        return {"status": "ok", "service": title}

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is down."}},
    )
    async def readyz(request: Request) -> JSONResponse:
        """Answer 200 only when every dependency answers (the readiness probe)."""
        checks: dict[str, Check] = request.app.state.readiness
        results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
        report = dict(zip(checks, results, strict=True))
        ready = all(result == "ok" for result in results)
        body = {"status": "ready" if ready else "not ready", "service": title, "checks": report}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics(request: Request) -> Response:
        """Expose the service's Prometheus metrics."""
        return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)

    return router


# --- resources a service opens in its startup --------------------------------------------------


async def open_bus(
    app: FastAPI, stack: AsyncExitStack, settings: ServiceSettings, *, service: str
) -> Bus:
    """Connect the bus from settings, register its readiness check and close it at shutdown."""
    bus = connect_bus(
        settings.amqp_url.get_secret_value(),
        service=service,
        exchange=settings.bus_exchange,
        delivery_limit=settings.bus_delivery_limit,
        prefetch=settings.bus_prefetch,
    )
    await bus.ping()  # connects a RabbitMQ bus; fails start-up loudly if the broker is away
    stack.push_async_callback(bus.close)
    app.state.bus = bus
    add_readiness_check(app, "bus", bus.ping)
    return bus


async def open_database(
    app: FastAPI,
    stack: AsyncExitStack,
    settings: ServiceSettings,
    *,
    schema: str,
    package: str,
    migrate: bool = True,
) -> Database:
    """Open the service's database, migrate its schema to head if asked, register readiness."""
    url = settings.database_url.get_secret_value()
    db = Database(url, schemas=[schema], **_pool_limits(settings) if is_postgres(url) else {})
    stack.push_async_callback(db.dispose)
    if migrate:
        started = time.monotonic()
        await migrations.upgrade(db, package)
        log.info("db.migrated", schema=schema, seconds=round(time.monotonic() - started, 3))
    app.state.db = db
    add_readiness_check(app, "database", db.ping)
    return db


def _pool_limits(settings: ServiceSettings) -> dict[str, Any]:
    """The pool's size and wait from settings: a request that waits longer answers 503
    (:mod:`cc_common.problems`); SQLite's one shared connection has no pool to size."""
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
    }


def get_bus(request: Request) -> Bus:
    """Dependency: the app's bus."""
    bus: Bus = request.app.state.bus
    return bus


def get_database(request: Request) -> Database:
    """Dependency: the app's database."""
    db: Database = request.app.state.db
    return db


BusDep = Annotated[Bus, Depends(get_bus)]
DatabaseDep = Annotated[Database, Depends(get_database)]


def state(app: FastAPI) -> Any:
    """Return ``app.state`` typed as Any for adapters that stash their objects there."""
    return app.state
