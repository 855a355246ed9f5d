"""Fixtures for the crm-api tests: running apps on the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from cc_common.bus._rabbit import RabbitBus
from cc_crm_api.adapters.sealing import new_key_text
from cc_crm_api.app import create_app
from cc_crm_api.settings import CrmApiSettings
from cc_crm_api.testing import Crm, CrmFactory, run_platform


@pytest.fixture
async def start_crm(
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    make_rabbit_bus: Callable[..., Awaitable[RabbitBus]],
    rabbit_cleanup: Any,
) -> AsyncIterator[CrmFactory]:
    """Yield a starter of crm-api apps (one database, exchange and queue unless overridden)."""
    exchange = unique_name("ex")
    queue = rabbit_cleanup.queue(unique_name("crm"))
    publisher = await make_rabbit_bus(exchange=exchange)
    admin_token = secrets.token_urlsafe(32)
    webhook_keys = new_key_text("test1")
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Crm:
            values: dict[str, Any] = {
                "tenant": "acme",
                "database_url": pg_url,
                "amqp_url": amqp_url,
                "bus_exchange": exchange,
                "crm_queue": queue,
                "bus_delivery_limit": 2,
                "crm_bootstrap_key": admin_token,
                "crm_webhook_keys": webhook_keys,
                "crm_event_poll_seconds": 0.1,
                "crm_webhook_poll_seconds": 0.1,
                **overrides,
            }
            transport = values.pop("upstream_transport", None)
            settings = CrmApiSettings(**values)
            app = create_app(settings, upstream_transport=transport)
            own = AsyncExitStack()
            stack.push_async_callback(own.aclose)
            await own.enter_async_context(app.router.lifespan_context(app))
            client = await own.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm")
            )
            token = settings.crm_bootstrap_key
            return Crm(
                app, client, settings, token.get_secret_value() if token else "", publisher, own
            )

        yield start


@pytest.fixture
def start_platform(
    pg_url: str, amqp_url: str, unique_name: Callable[[str], str], rabbit_cleanup: Any
) -> Callable[..., Any]:
    """Return a starter of the whole platform, ``start(routes, **crm)``, on the test's database
    and its own exchange (routing on a simulator with ``routes`` unless given ``esl``)."""
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})

    def start(routes: tuple[Any, ...], **crm: Any) -> Any:
        return run_platform(
            database_url=pg_url,
            amqp_url=amqp_url,
            exchange=exchange,
            metrics_queue=rabbit_cleanup.queue(unique_name("metrics")),
            recording_queue=rabbit_cleanup.queue(unique_name("recording")),
            routes=routes,
            crm_queue=rabbit_cleanup.queue(unique_name("crm")),
            crm_bootstrap_key=secrets.token_urlsafe(32),
            crm_event_poll_seconds=0.1,
            crm_webhook_poll_seconds=0.1,
            **crm,
        )

    return start
