"""The wallboard: a page served by the metrics service, kept live over Server-Sent Events.

``GET /wallboard`` is the page (static files in this package, no build step, nothing from the
internet); ``GET /wallboard/stream`` pushes a snapshot as soon as an event changes the figures
(and every second, so waits and times in state tick); ``GET /wallboard/snapshot`` is the same
snapshot once. Open like ``/healthz``: it shows queues and agents' states, never a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy import select

from cc_common.db import Database
from cc_metrics.adapters.db import queue_intervals
from cc_metrics.core.engine import MetricsEngine, Outcome
from cc_metrics.core.facts import QUEUE_FACT_NAMES
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.wallboard.board import Wallboard

STATIC = {
    "wallboard.js": "text/javascript; charset=utf-8",
    "wallboard.css": "text/css; charset=utf-8",
}
TICK_SECONDS = 1.0
MIN_GAP_SECONDS = 0.25
STREAM_SECONDS = 15.0
"""A stream ends after this long and the browser's EventSource reconnects at once, so a
stopping server never waits long for an open stream."""


class LiveWallboard:
    """The wallboard with what serving it needs: change notification and the clock."""

    def __init__(
        self,
        engine: MetricsEngine,
        thresholds: Thresholds,
        zone: ZoneInfo,
        clock: Callable[[], datetime],
    ) -> None:
        self.board = Wallboard(engine, thresholds, zone)
        self.clock = clock
        self.changed = asyncio.Event()
        self.closed = False

    def on_outcome(self, outcome: Outcome) -> None:
        """LiveMetrics listener: take the event's facts and wake the streams."""
        self.board.apply(outcome)
        self.changed.set()

    async def load(self, db: Database, tenant: str) -> None:
        """Read today's (and yesterday's) stored queue intervals, before consuming starts."""
        since = self.board.day_start(self.clock()) - timedelta(days=1)
        table = queue_intervals
        columns = [table.c[name] for name in QUEUE_FACT_NAMES]
        query = select(table.c.queue, table.c.interval_start, *columns).where(
            table.c.tenant == tenant, table.c.interval_start >= since
        )
        async with db.session() as session:
            rows = (await session.execute(query)).all()
        self.board.load(
            (row[0], _aware(row[1]), dict(zip(QUEUE_FACT_NAMES, row[2:], strict=True)))
            for row in rows
        )

    def close(self) -> None:
        """End every stream (the service is stopping)."""
        self.closed = True
        self.changed.set()

    def snapshot(self) -> dict[str, Any]:
        """Return the figures now."""
        now = self.clock()
        self.board.prune(now)
        return self.board.snapshot(now)

    async def stream(self, request: Request) -> AsyncIterator[str]:
        """Yield SSE messages: a snapshot now, then on each change (at most 4 a second)."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        yield "retry: 1000\n\n"
        while True:
            yield f"event: snapshot\ndata: {json.dumps(self.snapshot(), allow_nan=False)}\n\n"
            if self.closed or loop.time() >= ends:
                return
            await asyncio.sleep(MIN_GAP_SECONDS)
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_SECONDS - MIN_GAP_SECONDS):
                    await self.changed.wait()
            if await request.is_disconnected():
                return


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def wallboard_router() -> APIRouter:
    """Return the wallboard's routes (the app keeps the :class:`LiveWallboard` in its state)."""
    router = APIRouter(prefix="/wallboard", tags=["wallboard"])

    def live(request: Request) -> LiveWallboard:
        board: LiveWallboard = request.app.state.wallboard
        return board

    @router.get("", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        """The wallboard page."""
        return HTMLResponse(_read("index.html"), headers={"Cache-Control": "no-cache"})

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        """The page's script and style (nothing else is served from here)."""
        if name not in STATIC:
            raise HTTPException(404, f"no wallboard file {name!r}")
        return Response(_read(name), media_type=STATIC[name])

    @router.get("/snapshot")
    async def snapshot(request: Request) -> JSONResponse:
        """Every figure the wallboard shows, now (the stream pushes the same)."""
        return JSONResponse(live(request).snapshot())

    @router.get(
        "/stream",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "A stream of `snapshot` events (the same figures as /snapshot).",
                "content": {"text/event-stream": {"schema": {}}},
            }
        },
    )
    async def stream(request: Request) -> StreamingResponse:
        """Server-Sent Events: a ``snapshot`` event on every change and every second."""
        return StreamingResponse(
            live(request).stream(request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


def _read(name: str) -> str:
    return resources.files("cc_metrics.wallboard").joinpath("static", name).read_text("utf-8")
