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
from cc_crm_api.adapters.events import BATCH_MAX as RECORDER_BATCH
from cc_crm_api.adapters.events import EventRecorder, Recorded
from cc_crm_api.adapters.idempotency import IdempotencyMiddleware
from cc_crm_api.adapters.sealing import SecretBox
from cc_crm_api.adapters.stream import EventHub
from cc_crm_api.adapters.upstream import Upstream
from cc_crm_api.adapters.webhooks import SenderPolicy, WebhookSender, reseal_secrets
from cc_crm_api.api import agents, calls, events, keys, qa, queues, reports, webhooks
from cc_crm_api.api.deps import Clock, Runtime, utc_now
from cc_crm_api.core.ratelimit import RateLimit
from cc_crm_api.settings import CrmApiSettings

DESCRIPTION = """\
The contact center's public API for CRMs: API keys, agents and queues, call records, reports,
QA evaluations (answers per question; acknowledge, dispute, resolve), the agents' real-time
event stream (screen pop) and signed webhooks.

Every operation needs an API key (`Authorization: Bearer <key>`) holding the scope it names:
`read`, `write` (implies read), `admin` (everything, including keys and webhooks) or
`recordings`. Keys are limited in rate (429 with `Retry-After`). POST operations accept an
`Idempotency-Key` header that makes a retry safe. Errors are RFC 9457 problem details.
A browser's `EventSource`, which cannot send the header, opens an event stream with a
single-use ticket (`POST /v1/events/tickets`, then `?ticket=`); an API key never goes in a URL.
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
        limit=RateLimit(settings.crm_rate_limit_per_second, settings.crm_rate_limit_burst),
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
        recording=Upstream(
            "recording",
            settings.crm_recording_url,
            token=token,
            timeout=timeout,
            transport=upstream_transport,
        ),
        box=SecretBox(settings.webhook_keys()),
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
        await reseal_secrets(db, settings.tenant, runtime.box)
        stack.push_async_callback(runtime.routing.close)
        stack.push_async_callback(runtime.metrics.close)
        stack.push_async_callback(runtime.recording.close)
        hub = EventHub(db, settings.tenant, poll_seconds=settings.crm_event_poll_seconds)
        await hub.start()
        stack.push_async_callback(hub.stop)
        sender = WebhookSender(db, settings.tenant, _policy(settings), box=runtime.box, clock=clock)
        sender.start()
        stack.push_async_callback(sender.stop)
        runtime.extras.update(hub=hub, sender=sender)

        def recorded(row: Recorded) -> None:
            hub.push(row.seq, row.document)
            if row.deliveries:
                sender.notify()

        recorder = EventRecorder(
            db,
            settings.tenant,
            log_size=settings.crm_event_log_size,
            clock=clock,
            on_recorded=recorded,
        )
        recorder.start()
        stack.push_async_callback(recorder.stop)
        bus = await open_bus(app, stack, settings, service="crm-api")
        subscription = await bus.consume(
            settings.consumer_queue,
            bindings=[
                f"{settings.tenant}.call.*",
                f"{settings.tenant}.agent.*",
                f"{settings.tenant}.survey.*",
            ],
            handler=recorder.handle,
            concurrency=RECORDER_BATCH,  # handlers wait for their batch: let a batch fill
        )
        stack.push_async_callback(subscription.cancel)

    app = create_service_app(
        settings=settings,
        title="crm-api",
        startup=startup,
        open_routers=[  # the public API: admitted by its own scoped API keys, not the service token
            keys.router,
            agents.router,
            queues.router,
            calls.router,
            reports.router,
            qa.router,
            events.router,
            webhooks.router,
        ],
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
        max_body=settings.http_max_body_bytes,
        keep=timedelta(hours=settings.crm_idempotency_hours),
        clock=clock,
    )
    return app


def _policy(settings: CrmApiSettings) -> SenderPolicy:
    return SenderPolicy(
        max_attempts=settings.crm_webhook_max_attempts,
        backoff_seconds=settings.crm_webhook_backoff_seconds,
        backoff_max_seconds=settings.crm_webhook_backoff_max_seconds,
        disable_after=settings.crm_webhook_disable_after,
        timeout_seconds=settings.crm_webhook_timeout_seconds,
        concurrency=settings.crm_webhook_concurrency,
        poll_seconds=settings.crm_webhook_poll_seconds,
        allowed=settings.allowed_networks(),
    )
