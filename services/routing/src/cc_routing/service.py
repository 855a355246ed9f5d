"""Bring the routing runtime up in the right order, and keep it in step with FreeSWITCH.

Standby until the lease is ours; then configuration from the database, the event connection to
FreeSWITCH (retried until it answers), a second connection for ``api`` queries, the restore from
live channels, and only then timers and offering. After every reconnect the core is re-synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from cc_common.db import Database, Outbox, OutboxRelay
from cc_common.db.lease import AdvisoryLease
from cc_common.esl import InboundClient, ReconnectInfo
from cc_common.logging import get_logger
from cc_routing.adapters import db as tables
from cc_routing.adapters.freeswitch import Dialplan
from cc_routing.core import Acd, Destination
from cc_routing.reconcile import load_configuration, read_live_channels, restore, resync
from cc_routing.runtime import RoutingRuntime
from cc_routing.settings import RoutingSettings

log = get_logger(__name__)

SETTLE_SECONDS = 2.0
"""How long a stopping instance waits for FreeSWITCH to confirm the bridges it asked for."""


class RoutingService:
    """The routing runtime plus its connections, lease and start-up sequence."""

    def __init__(self, settings: RoutingSettings, db: Database, relay_bus: Any) -> None:
        self.settings = settings
        outbox = Outbox(tables.kit.outbox)
        self.relay = OutboxRelay(db, relay_bus, outbox)
        fallback = Destination.parse(settings.routing_fallback)
        self.runtime = RoutingRuntime(
            tenant=settings.tenant,
            acd=Acd(fallback=fallback),
            db=db,
            outbox=outbox,
            relay=self.relay,
            dialplan=Dialplan(settings.routing_context, settings.routing_hold_music),
            gateway_template=settings.routing_callback_dial,
            fallback=fallback,
        )
        self.lease = AdvisoryLease(db, f"routing:{settings.tenant}", on_lost=_terminate)
        self.events: InboundClient | None = None
        self.api: InboundClient | None = None
        self.live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the leader election and everything after it in the background."""
        self._task = asyncio.create_task(self._run(), name="routing-start")

    async def _run(self) -> None:
        if self.settings.routing_lease:
            await self.lease.acquire()
        else:
            self.lease.held.set()
        self.relay.start()
        agents = await load_configuration(self.runtime)
        async with self.runtime.reconciling():
            self.events = await self._connect(events=True)
            self.api = await self._connect(events=False)
            live = await read_live_channels(self.api)
            await restore(self.runtime, live, agents, api=self.api)
        self.runtime.start_timers()
        self.live.set()
        log.info("routing.live", tenant=self.settings.tenant)

    async def _connect(self, *, events: bool) -> InboundClient:
        """Connect to FreeSWITCH, retrying with backoff until it answers."""
        password = self.settings.esl_password.get_secret_value()
        delay = 0.5
        while True:
            client = InboundClient(
                self.settings.esl_host,
                self.settings.esl_port,
                password,
                on_reconnect=self._reconnected if events else None,
            )
            if events:
                self.runtime.attach(client)
            try:
                await client.connect()
            except OSError as exc:
                log.warning("routing.freeswitch_unreachable", error=str(exc), retry_in=delay)
                await client.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if events:
                await self.runtime.subscribe(client)
            return client

    async def _reconnected(self, client: InboundClient, info: ReconnectInfo) -> None:
        """FreeSWITCH is back: drop what ended meanwhile, take in what we missed."""
        if not self.live.is_set() or self.api is None:
            return
        log.warning("routing.freeswitch_reconnected", core_restarted=info.core_restarted)
        async with self.runtime.reconciling():
            await resync(self.runtime, await read_live_channels(self.api))

    async def check_freeswitch(self) -> None:
        """Readiness: the lease is ours and FreeSWITCH's live calls are loaded."""
        await self.lease.check()
        if not self.live.is_set() or self.events is None or not self.events.connected:
            raise RuntimeError("not connected to FreeSWITCH (or still restoring its calls)")

    async def stop(self) -> None:
        """Stop in reverse: pending bridges, timers, connections, relay (flushing), lease."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.live.is_set():
            await self.runtime.settle(within=SETTLE_SECONDS)
        await self.runtime.close()
        for client in (self.events, self.api):
            if client is not None:
                await client.close()
        await self.relay.stop()
        await self.lease.release()


def _terminate() -> None:
    """Leadership is gone: stop this process so it can come back as a standby."""
    os.kill(os.getpid(), signal.SIGTERM)
