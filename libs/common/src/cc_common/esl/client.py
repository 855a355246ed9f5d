"""The inbound ESL client: connect, authenticate, subscribe, and stay connected.

When the socket drops (FreeSWITCH restarted, network blip, a listener killed for falling behind)
the client reconnects with exponential backoff and jitter, authenticates, re-sends every
subscription and filter it had, then awaits ``on_reconnect(info)`` so the service can reconcile
its picture of live calls with ``show channels as json``: events that happened while the socket
was down are lost for good. ``info.core_restarted`` says whether FreeSWITCH itself restarted
(its Core-UUID changed), which means every call it had is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from cc_common.esl.connection import EslConnection, Reply
from cc_common.esl.control import EslControl
from cc_common.esl.dispatch import DEFAULT_MAX_BUFFERED, EventDispatcher, OverflowHook
from cc_common.esl.errors import (
    AuthenticationError,
    ConnectionLost,
    EslError,
    ProtocolError,
)
from cc_common.esl.event import EslEvent
from cc_common.esl.subscriptions import Subscriptions
from cc_common.logging import get_logger
from cc_common.settings import ServiceSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``initial * factor**attempt`` capped at ``maximum``, +/- ``jitter``."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return how long to wait before reconnect attempt ``attempt`` (0-based)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return max(0.0, base * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True, slots=True)
class ReconnectInfo:
    """What the on_reconnect hook learns about the outage."""

    attempts: int
    downtime: float
    reason: str
    previous_core_uuid: str | None
    core_uuid: str | None

    @property
    def core_restarted(self) -> bool:
        """Return True when both Core-UUIDs are known and differ: FreeSWITCH restarted."""
        return bool(self.previous_core_uuid and self.core_uuid) and (
            self.previous_core_uuid != self.core_uuid
        )


ReconnectHook = Callable[["InboundClient", ReconnectInfo], Awaitable[None] | None]
CoreRestartHook = Callable[[str, str], Awaitable[None] | None]


class InboundClient(EslControl):
    """An inbound ESL connection to FreeSWITCH (``host:port``, password or user@domain)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8021,
        password: str = "ClueCon",
        *,
        user: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        on_reconnect: ReconnectHook | None = None,
        on_core_restart: CoreRestartHook | None = None,
        on_overflow: OverflowHook | None = None,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED,
        connect_timeout: float = 5.0,
        request_timeout: float | None = 30.0,
        probe_core_uuid: bool = True,
        rng: random.Random | None = None,
        name: str = "esl-inbound",
    ) -> None:
        super().__init__(
            EventDispatcher(max_buffered=max_buffered_events, on_overflow=on_overflow, name=name)
        )
        self._request_timeout = request_timeout
        self.host = host
        self.port = port
        self._password = password
        self._user = user
        self._reconnect = reconnect
        self._backoff = backoff or Backoff()
        self._on_reconnect = on_reconnect
        self._on_core_restart = on_core_restart
        self._connect_timeout = connect_timeout
        self._probe = probe_core_uuid
        self._rng = rng or random.Random()
        self._name = name
        self.subscriptions = Subscriptions()
        self.core_uuid: str | None = None
        self.reconnects = 0
        self.last_error: str | None = None
        """Why the last reconnect attempt failed (None once connected), for readiness."""
        self._conn: EslConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: ServiceSettings, **options: Any) -> InboundClient:
        """Build a client from a service's settings (CC_ESL_HOST, CC_ESL_PORT, CC_ESL_PASSWORD)."""
        return cls(
            settings.esl_host,
            settings.esl_port,
            settings.esl_password.get_secret_value(),
            **options,
        )

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def name(self) -> str:
        """Return the name this connection logs and names its tasks with."""
        return self._name

    @property
    def connected(self) -> bool:
        """Return True while an authenticated socket is open."""
        return self._conn is not None and self._conn.is_open

    @property
    def connection(self) -> EslConnection | None:
        """Return the current socket's connection object (None between reconnects)."""
        return self._conn

    def _connection(self) -> EslConnection:
        conn = self._conn
        if conn is None or not conn.is_open:
            raise ConnectionLost("not connected to FreeSWITCH")
        return conn

    async def wait_connected(self) -> None:
        """Wait until the client is connected (again)."""
        await self._connected.wait()

    # ----- lifecycle

    async def connect(self) -> None:
        """Connect and authenticate (errors raise), then reconnect in the background if it drops."""
        self._closing = False
        self.dispatcher.start()
        try:
            await self._open()
        except BaseException:
            await self.dispatcher.stop()
            raise
        if self._reconnect:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"{self._name}-reconnect"
            )

    async def close(self) -> None:
        """Stop reconnecting, say ``exit`` if connected, close the socket and stop handlers."""
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        conn, self._conn = self._conn, None
        self._connected.clear()
        if conn is not None:
            if conn.is_open:
                with contextlib.suppress(EslError, ProtocolError, TimeoutError, OSError):
                    async with asyncio.timeout(1.0):
                        await conn.request(b"exit\n\n")
            await conn.close()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.dispatcher.stop()

    async def _open(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self._connect_timeout
        )
        conn = EslConnection(
            reader,
            writer,
            on_event=self._event,
            request_timeout=self._request_timeout,
            name=self._name,
        )
        conn.start()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await conn.wait_greeting()
                await self._authenticate(conn)
                if self._probe:
                    await self._learn_core_uuid(conn)
            for line in self.subscriptions.restore_commands():
                reply = await conn.request(f"{line}\n\n".encode())
                if not reply.ok:
                    log.error("esl.restore_failed", command=line, reply=reply.text)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._connected.set()
        log.info("esl.connected", host=self.host, port=self.port, core_uuid=self.core_uuid)

    async def _authenticate(self, conn: EslConnection) -> Reply:
        line = f"userauth {self._user}:{self._password}" if self._user else f"auth {self._password}"
        if "\n" in line or "\r" in line:
            raise ValueError("credentials must not contain line breaks")
        reply = await conn.request(f"{line}\n\n".encode())
        if not reply.text.startswith("+OK"):
            raise AuthenticationError(f"FreeSWITCH refused the credentials: {reply.text}")
        return reply

    async def _learn_core_uuid(self, conn: EslConnection) -> None:
        reply = await conn.request(b"api global_getvar core_uuid\n\n")
        value = reply.text.strip()
        if reply.ok and value:
            self._core_seen(value)

    def _event(self, event: EslEvent) -> None:
        core = event.core_uuid
        if core and core != self.core_uuid:
            self._core_seen(core)
        self.dispatcher.put(event)

    def _core_seen(self, core: str) -> None:
        previous, self.core_uuid = self.core_uuid, core
        if previous and previous != core:
            log.warning("esl.freeswitch_restarted", previous_core_uuid=previous, core_uuid=core)
            if self._on_core_restart is not None:
                self._spawn(self._call(self._on_core_restart, previous, core))

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _call(self, hook: Callable[..., Awaitable[None] | None], *args: object) -> None:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("esl.hook_failed", hook=getattr(hook, "__name__", repr(hook)))

    # ----- reconnecting

    async def _supervise(self) -> None:
        while not self._closing:
            conn = self._conn
            if conn is None:
                return
            reason = await conn.wait_closed()
            if self._stopping():
                return
            self._connected.clear()
            self.last_error = f"connection lost: {reason}"
            lost_at = time.monotonic()
            previous_core = self.core_uuid
            log.warning("esl.connection_lost", reason=str(reason))
            attempts = await self._reconnect_until_open()
            self.reconnects += 1
            info = ReconnectInfo(
                attempts=attempts,
                downtime=time.monotonic() - lost_at,
                reason=str(reason),
                previous_core_uuid=previous_core,
                core_uuid=self.core_uuid,
            )
            log.info("esl.reconnected", attempts=attempts, core_restarted=info.core_restarted)
            if self._on_reconnect is not None:
                await self._call(self._on_reconnect, self, info)

    def _stopping(self) -> bool:
        return self._closing

    async def _reconnect_until_open(self) -> int:
        attempt = 0
        while True:
            await asyncio.sleep(self._backoff.delay(attempt, self._rng))
            attempt += 1
            try:
                await self._open()
            except AuthenticationError as exc:
                self.last_error = f"FreeSWITCH refused the password: {exc}"
                log.error("esl.reconnect_refused", error=str(exc), attempt=attempt)
            except (OSError, EslError, ProtocolError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info(
                    "esl.reconnect_failed", error=str(exc) or type(exc).__name__, attempt=attempt
                )
            else:
                self.last_error = None
                return attempt

    async def exit(self) -> Reply:
        """Say ``exit``: FreeSWITCH answers ``+OK bye`` and hangs up; we do not reconnect."""
        self._closing = True
        return await super().exit()

    # ----- subscription bookkeeping

    def _remember(self, line: str, reply: Reply) -> None:
        self.subscriptions.apply(line)
