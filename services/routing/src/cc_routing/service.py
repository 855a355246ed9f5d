"""Bring the routing runtime up in the right order, and keep it in step with FreeSWITCH.

Standby until the lease is ours; then configuration from the database, the event connection to
FreeSWITCH (retried until it answers), a second connection for ``api`` queries, the restore from
live channels, and only then timers, offering and the outbound dialer's running campaigns
(:mod:`cc_routing.dialer_service`): a standby never dials.

Events that happen while a connection is down are lost for good, so after every reconnect (of
either connection) the core is re-synced with ``show channels``: once both connections are up,
retried with backoff until it succeeds. Routing reports not ready from the moment a connection
drops until that re-sync has finished. A refused password is logged as such, retried with
backoff, and named by readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from cc_common.db import Database, Outbox, OutboxRelay
from cc_common.db.lease import AdvisoryLease
from cc_common.esl import AuthenticationError, EslError, InboundClient, ReconnectInfo
from cc_common.esl.protocol import ProtocolError
from cc_common.logging import get_logger
from cc_routing.adapters import db as tables
from cc_routing.adapters.freeswitch import Dialplan
from cc_routing.core import Acd, Destination
from cc_routing.dialer_service import DialerService
from cc_routing.reconcile import (
    LISTING_LAG_SECONDS,
    load_configuration,
    read_live_channels,
    restore,
    resync,
)
from cc_routing.runtime import Clock, RoutingRuntime
from cc_routing.settings import RoutingSettings

log = get_logger(__name__)

SETTLE_SECONDS = 2.0
"""How long a stopping instance waits for FreeSWITCH to confirm the bridges it asked for."""
RETRY_FIRST, RETRY_MAX = 0.5, 10.0
"""Backoff for connecting to FreeSWITCH and for re-syncing after a reconnect."""
LEASE_RETRY_SECONDS = 0.5
"""How often a standby tries the lease: a dead leader's calls wait no longer than this for it."""
PASSWORD_REFUSED = "FreeSWITCH refused the ESL password (check CC_ESL_PASSWORD)"


class RoutingService:
    """The routing runtime plus its connections, lease and start-up sequence."""

    def __init__(
        self,
        settings: RoutingSettings,
        db: Database,
        relay_bus: Any,
        *,
        clock: Clock = time.time,
        clock_rate: float = 1.0,
    ) -> None:
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
            dialplan=Dialplan(
                settings.routing_context,
                settings.routing_hold_music,
                settings.routing_transfer_context,
            ),
            gateway_template=settings.routing_callback_dial,
            fallback=fallback,
            clock=clock,
            clock_rate=clock_rate,
        )
        self.lease = AdvisoryLease(
            db, f"routing:{settings.tenant}", retry_seconds=LEASE_RETRY_SECONDS, on_lost=_terminate
        )
        self.events: InboundClient | None = None
        self.dialer: DialerService | None = None
        self.api: InboundClient | None = None
        self.live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._problem: str | None = "starting"
        self._resync_task: asyncio.Task[None] | None = None
        self._resyncs_asked = 0
        self._reconnected_while_starting = False
        self.resyncs = 0
        """Re-syncs completed since start (one per outage, however many reconnects it took)."""

    def start(self) -> None:
        """Start the leader election and everything after it in the background."""
        self._task = asyncio.create_task(self._run(), name="routing-start")

    async def _run(self) -> None:
        try:
            await self._start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never silently: readiness and the log both say why
            self._problem = f"start-up failed: {type(exc).__name__}: {exc}"[:300]
            log.exception("routing.start_failed")
            raise

    async def _start(self) -> None:
        self._problem = "waiting for the lease"
        if self.settings.routing_lease:
            await self.lease.acquire()
        else:
            self.lease.held.set()
        self.relay.start()
        self._problem = "loading configuration"
        agents = await load_configuration(self.runtime)
        async with self.runtime.reconciling():
            self.events = await self._connect(events=True)
            self.api = await self._connect(events=False)
            self._problem = "restoring FreeSWITCH's live calls"
            await asyncio.sleep(LISTING_LAG_SECONDS)  # the listing catches up with the switch
            await restore(self.runtime, await read_live_channels(self.api), agents, api=self.api)
        self.runtime.start_timers()
        self._problem = None
        self.live.set()
        log.info("routing.live", tenant=self.settings.tenant)
        if self.settings.routing_dialer:
            self._start_dialer(self.events)
        if self._reconnected_while_starting:
            self.resync_soon()

    def _start_dialer(self, client: InboundClient) -> None:
        """Dial the running campaigns on the event connection (bgapi only: events keep flowing)."""
        template = self.settings.routing_dialer_dial
        self.dialer = DialerService(
            self.runtime,
            client,
            api=self.api,
            dial_string=lambda number: template.replace("{number}", number),
        )
        self.dialer.start()

    async def _connect(self, *, events: bool) -> InboundClient:
        """Connect to FreeSWITCH, retrying with backoff until it answers and accepts us."""
        password = self.settings.esl_password.get_secret_value()
        which = "event" if events else "api"
        delay = RETRY_FIRST
        while True:
            client = InboundClient(
                self.settings.esl_host,
                self.settings.esl_port,
                password,
                on_reconnect=self._reconnected,
                name=f"esl-{which}",
            )
            if events:
                self.runtime.attach(client)
            try:
                await client.connect()
            except AuthenticationError as exc:
                self._problem = PASSWORD_REFUSED
                log.error(
                    "routing.freeswitch_password_refused",
                    connection=which,
                    error=str(exc),
                    hint="check CC_ESL_PASSWORD",
                    retry_in=delay,
                )
            except (OSError, EslError, ProtocolError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                self._problem = f"FreeSWITCH {which} connection failed: {reason}"[:300]
                log.warning(
                    "routing.freeswitch_unreachable", connection=which, error=reason, retry_in=delay
                )
            else:
                if events:
                    await self.runtime.subscribe(client)
                return client
            await client.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _reconnected(self, client: InboundClient, info: ReconnectInfo) -> None:
        """A connection is back: events of the outage are lost, so re-sync with the live calls."""
        log.warning(
            "routing.freeswitch_reconnected",
            connection=client.name,
            core_restarted=info.core_restarted,
            downtime=round(info.downtime, 3),
        )
        if self.live.is_set():
            if self.dialer is not None:
                self.dialer.link_lost()
            self.resync_soon()
        else:
            self._reconnected_while_starting = True  # the restore may have read a stale view

    def resync_soon(self) -> None:
        """Ask for a re-sync; one runs at a time, and a request made during one runs it again."""
        self._resyncs_asked += 1
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.create_task(self._resync(), name="routing-resync")

    async def _resync(self) -> None:
        """Re-sync once both connections are up; retry with backoff until it succeeds."""
        delay = RETRY_FIRST
        while True:
            asked = self._resyncs_asked
            try:
                await self._resync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "routing.resync_failed", error=f"{type(exc).__name__}: {exc}", retry_in=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if asked == self._resyncs_asked:
                self.resyncs += 1
                log.info("routing.resynced", resyncs=self.resyncs)
                return
            delay = RETRY_FIRST  # another reconnect happened meanwhile: look again

    async def _resync_once(self) -> None:
        events, api = self.events, self.api
        if events is None or api is None:
            raise RuntimeError("FreeSWITCH connections are not open yet")
        async with asyncio.timeout(30):
            await events.wait_connected()
            await api.wait_connected()
        async with self.runtime.reconciling():
            read_at = self.runtime.now()
            await asyncio.sleep(LISTING_LAG_SECONDS)  # the listing catches up with the switch
            await resync(self.runtime, await read_live_channels(api), read_at=read_at, api=api)
        if self.dialer is not None:  # after routing's: handing agents back takes routing steps
            await self.dialer.resync()

    async def check_freeswitch(self) -> None:
        """Readiness: the lease is ours, both connections are up and routing is in step."""
        await self.lease.check()
        problem = self.freeswitch_problem()
        if problem is not None:
            raise RuntimeError(problem)

    def freeswitch_problem(self) -> str | None:
        """Return why routing is not in step with FreeSWITCH now (None when it is)."""
        if not self.live.is_set():
            return self._problem or "starting"
        for which, client in (("event", self.events), ("api", self.api)):
            if client is None or not client.connected:
                error = client.last_error if client is not None else None
                refused = error is not None and "refused the password" in error
                detail = PASSWORD_REFUSED if refused else (error or "reconnecting")
                return f"FreeSWITCH {which} connection is down: {detail}"[:300]
        if self._resync_task is not None and not self._resync_task.done():
            return "re-syncing with FreeSWITCH's live calls after a reconnect"
        return None

    async def stop(self) -> None:
        """Stop in reverse: the dialer, pending bridges, timers, connections, relay, lease."""
        for task in (self._task, self._resync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.dialer is not None:
            await self.dialer.stop()
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
