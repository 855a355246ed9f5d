"""A database out of connections answers 503 with Retry-After, on the real PostgreSQL.

Under overload the pool's wait runs out, or PostgreSQL refuses another connection; either used
to be an unhandled 500. Every service opens its database through the kit, so one small service
stands for all of them here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cc_common.app import DatabaseDep, create_service_app, open_database
from cc_common.db import Database
from cc_common.problems import PROBLEM_MEDIA_TYPE
from cc_common.settings import ServiceSettings


def busy_service(database_url: str, released: asyncio.Event, holding: asyncio.Event) -> FastAPI:
    """A service with a pool of one connection and a tiny wait; ``/hold`` keeps the connection."""
    router = APIRouter()

    @router.get("/hold")
    async def hold(db: DatabaseDep) -> dict[str, bool]:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            holding.set()
            await released.wait()
        return {"held": True}

    @router.get("/count")
    async def count(db: DatabaseDep) -> dict[str, int]:
        async with db.session() as session:
            return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    settings = ServiceSettings(
        database_url=database_url,
        db_pool_size=1,
        db_pool_max_overflow=0,
        db_pool_timeout_seconds=0.1,
    )

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        await open_database(app, stack, settings, schema="demo", package="cc_common", migrate=False)

    return create_service_app(
        settings=settings, title="demo", startup=startup, open_routers=[router]
    )


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://demo") as client,
    ):
        yield client


def assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert (body["status"], body["title"], body["instance"]) == (
        503,
        "Service Unavailable",
        "/count",
    )
    assert "Traceback" not in response.text
    assert "QueuePool" not in response.text  # no internals: the pool's own message stays in logs


async def test_a_request_finding_the_pool_exhausted_gets_503_then_the_service_recovers(
    pg_url: str,
) -> None:
    released, holding = asyncio.Event(), asyncio.Event()
    async with serving(busy_service(pg_url, released, holding)) as client:
        held = asyncio.create_task(client.get("/hold"))
        await holding.wait()  # the pool's only connection is taken
        assert_busy(await client.get("/count"))
        released.set()
        assert (await held).json() == {"held": True}
        recovered = await client.get("/count")
    assert (recovered.status_code, recovered.json()) == (200, {"one": 1})


async def test_postgres_refusing_another_connection_gets_503(pg_url: str) -> None:
    role = f"busy_{uuid.uuid4().hex[:12]}"
    admin = Database(pg_url)
    async with admin.session() as session:  # a role PostgreSQL admits no connection for
        await session.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
    try:
        limited = make_url(pg_url).set(username=role, password=None)
        app = busy_service(limited.render_as_string(hide_password=False), *[asyncio.Event()] * 2)
        async with serving(app) as client:
            assert_busy(await client.get("/count"))
    finally:
        async with admin.session() as session:
            await session.execute(text(f'DROP ROLE "{role}"'))
        await admin.dispose()
