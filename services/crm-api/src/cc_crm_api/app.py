"""The crm-api service's FastAPI app: the public API over routing, metrics and its own data."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
from fastapi import FastAPI

from cc_common.app import create_service_app, open_bus, open_database
from cc_common.db import Database
from cc_crm_api.adapters import keys as key_store
from cc_crm_api.adapters.db import SCHEMA
from cc_crm_api.adapters.idempotency import IdempotencyMiddleware
from cc_crm_api.adapters.upstream import Upstream
from cc_crm_api.api import keys
from cc_crm_api.api.deps import Clock, Runtime, utc_now
from cc_crm_api.core.ratelimit import RateLimiter
from cc_crm_api.settings import CrmApiSettings

DESCRIPTION = """\
The contact center's public API for CRMs: API keys, agents and queues, call records, reports,
the agents' real-time event stream (screen pop) and signed webhooks.

Every operation needs an API key (`Authorization: Bearer <key>`) holding the scope it names:
`read`, `write` (implies read), `admin` (everything, including keys and webhooks) or
`recordings`. Keys are limited in rate (429 with `Retry-After`). POST operations accept an
`Idempotency-Key` header that makes a retry safe. Errors are RFC 9457 problem details.
"""


def create_app(
    settings: CrmApiSettings,
    *,
    clock: Clock = utc_now,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the crm-api app; nothing is opened until the lifespan starts."""
    token = settings.service_token.get_secret_value() if settings.service_token else None
    timeout = settings.crm_upstream_timeout_seconds
    runtime = Runtime(
        settings=settings,
        limiter=RateLimiter(settings.crm_rate_limit_per_second, settings.crm_rate_limit_burst),
        routing=Upstream(
            "routing",
            settings.crm_routing_url,
            token=token,
            timeout=timeout,
            transport=upstream_transport,
        ),
        metrics=Upstream(
            "metrics",
            settings.crm_metrics_url,
            token=token,
            timeout=timeout,
            transport=upstream_transport,
        ),
        clock=clock,
    )

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        db = await open_database(app, stack, settings, schema=SCHEMA, package="cc_crm_api")
        bootstrap = settings.crm_bootstrap_key
        async with db.session() as session:
            await key_store.install_bootstrap(
                session,
                settings.tenant,
                bootstrap.get_secret_value() if bootstrap else None,
                clock(),
            )
        stack.push_async_callback(runtime.routing.close)
        stack.push_async_callback(runtime.metrics.close)
        await open_bus(app, stack, settings, service="crm-api")

    app = create_service_app(
        settings=settings, title="crm-api", startup=startup, routers=[keys.router]
    )
    app.title = "Contact center API"
    app.description = DESCRIPTION
    app.state.runtime = runtime

    def database() -> Database:
        db: Database = app.state.db
        return db

    app.add_middleware(
        IdempotencyMiddleware,
        database=database,
        tenant=settings.tenant,
        max_body=settings.crm_max_body_bytes,
        keep=timedelta(hours=settings.crm_idempotency_hours),
        clock=clock,
    )
    return app
