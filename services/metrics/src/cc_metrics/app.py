"""The metrics service's FastAPI app: the engine and live metrics built here, resources opened in
the lifespan (database, then the batch writer, then the bus consumer), routes from ``api``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from cc_common.app import add_readiness_check, create_service_app, open_bus, open_database
from cc_metrics.adapters.consumer import MetricsConsumer
from cc_metrics.adapters.db import SCHEMA
from cc_metrics.api import cdrs, inputs, reports, staffing
from cc_metrics.api.deps import Runtime
from cc_metrics.core.engine import MetricsEngine
from cc_metrics.exposition import LiveMetrics
from cc_metrics.settings import MetricsSettings
from cc_metrics.wallboard import LiveWallboard, wallboard_router

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: MetricsSettings, *, clock: Clock = _now) -> FastAPI:
    """Build the metrics app; nothing is opened until the lifespan starts."""
    engine = MetricsEngine(
        tenant=settings.tenant,
        thresholds=settings.thresholds(),
        queues=settings.metrics_queues,
        teams=settings.metrics_teams,
    )
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    live = LiveMetrics(engine, registry=registry, clock=clock, break_reasons=settings.break_reasons)
    wallboard = LiveWallboard(
        engine, settings.thresholds(), ZoneInfo(settings.report_time_zone), clock
    )
    live.listeners.append(wallboard.on_outcome)

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        db = await open_database(app, stack, settings, schema=SCHEMA, package="cc_metrics")
        consumer = MetricsConsumer(
            db=db,
            engine=engine,
            live=live,
            clock=clock,
            batch_max=settings.metrics_batch_max,
            linger_seconds=settings.metrics_batch_linger_seconds,
        )
        await consumer.load()
        await wallboard.load(db, settings.tenant)
        stack.callback(wallboard.close)
        consumer.start()
        stack.push_async_callback(consumer.stop)
        bus = await open_bus(app, stack, settings, service="metrics")
        subscription = await bus.consume(
            settings.consumer_queue,
            bindings=[f"{settings.tenant}.#"],
            handler=consumer.handle,
            concurrency=settings.metrics_concurrency,
        )
        consumer.watch(subscription)  # cc_metrics_consumer_up follows what really happens
        add_readiness_check(app, "consumer", consumer.check)

        async def stop_consuming() -> None:
            live.consumer_up.set(0)
            await subscription.cancel()

        stack.push_async_callback(stop_consuming)
        app.state.consumer = consumer

    app = create_service_app(
        settings=settings,
        title="metrics",
        startup=startup,
        routers=[reports.router, cdrs.router, staffing.router, inputs.router],
        open_routers=[wallboard_router()],  # queue figures and agents' states, never a caller
        registry=registry,
    )
    app.state.runtime = Runtime(settings=settings, engine=engine, clock=clock)
    app.state.live = live
    app.state.wallboard = wallboard
    return app
