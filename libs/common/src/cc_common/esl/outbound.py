"""Outbound mode: the dialplan's ``socket host:port async full`` connects to us, once per call.

The server accepts the connection, sends ``connect``, and reads the reply: the channel's
CHANNEL_DATA as a URL-encoded header block with no Content-Length (``Reply-Text: +OK``,
``Socket-Mode: async`` and ``Control: full`` come last). It then hands an
:class:`OutboundSession` to the service's handler, which drives the call (``myevents``,
``linger``, ``execute``, ``api`` ...). When the handler returns the socket is closed and the call
continues in the dialplan (for ``park`` after ``socket``, it stays parked).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Self

from cc_common.esl.connection import EslConnection
from cc_common.esl.control import EslControl
from cc_common.esl.dispatch import DEFAULT_MAX_BUFFERED, EventDispatcher
from cc_common.esl.errors import ConnectionLost, EslError, ProtocolError
from cc_common.esl.event import EslEvent
from cc_common.esl.protocol import Frame
from cc_common.logging import get_logger, log_context

log = get_logger(__name__)

SessionHandler = Callable[["OutboundSession"], Awaitable[None]]


class OutboundSession(EslControl):
    """One call's outbound socket: its CHANNEL_DATA and the commands that control it."""

    def __init__(
        self,
        conn: EslConnection,
        dispatcher: EventDispatcher,
        channel_data: EslEvent,
    ) -> None:
        super().__init__(dispatcher)
        self._conn = conn
        self.channel_data = channel_data
        self.linger_notice: Frame | None = None
        self._lingering = asyncio.Event()

    def __repr__(self) -> str:
        return f"OutboundSession({self.unique_id!r})"

    def _connection(self) -> EslConnection:
        if not self._conn.is_open:
            raise ConnectionLost("the outbound socket is closed")
        return self._conn

    @property
    def unique_id(self) -> str:
        """Return the controlled channel's Unique-ID."""
        return self.channel_data.unique_id or ""

    @property
    def is_open(self) -> bool:
        """Return True while FreeSWITCH keeps the socket open."""
        return self._conn.is_open

    def _notice(self, frame: Frame) -> None:
        if frame.get("Content-Disposition") == "linger":
            self.linger_notice = frame
            self._lingering.set()

    async def wait_hangup(self) -> None:
        """Wait for the linger notice FreeSWITCH sends when the call hangs up (needs ``linger``)."""
        await self._lingering.wait()

    async def wait_closed(self) -> BaseException:
        """Wait until FreeSWITCH (or we) closed the socket; return why."""
        return await self._conn.wait_closed()

    async def close(self) -> None:
        """Close the socket; FreeSWITCH continues the dialplan after ``socket``."""
        await self._conn.close()
        await self.dispatcher.stop()


class OutboundServer:
    """Listens for FreeSWITCH's outbound-socket connections (127.0.0.1 unless told otherwise)."""

    def __init__(
        self,
        handler: SessionHandler,
        host: str = "127.0.0.1",
        port: int = 8084,
        *,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED,
        connect_timeout: float = 5.0,
        request_timeout: float | None = 30.0,
        backlog: int = 1024,
    ) -> None:
        self.host = host
        self._backlog = backlog
        """Connections the kernel queues before they are accepted: a burst of calls reaching the
        socket at once (asyncio's default is 100) must not overflow it, or the switch's side of
        an unaccepted connection waits forever and the caller hears silence."""
        self.port = port
        self._handler = handler
        self._max_buffered = max_buffered_events
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sessions_started = 0
        self.sessions_failed = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening; with port 0 the chosen port is in ``self.port`` afterwards."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, backlog=self._backlog
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("esl.outbound_listening", host=self.host, port=self.port)

    async def close(self) -> None:
        """Stop accepting calls and end the sessions still running."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dispatcher = EventDispatcher(max_buffered=self._max_buffered, name="esl-outbound")
        holder: list[OutboundSession] = []

        def notice(frame: Frame) -> None:
            if holder:
                holder[0]._notice(frame)

        conn = EslConnection(
            reader,
            writer,
            on_event=dispatcher.put,
            on_notice=notice,
            request_timeout=self._request_timeout,
            name="esl-outbound",
        )
        conn.start()
        try:
            async with asyncio.timeout(self._connect_timeout):
                reply = await conn.request(b"connect\n\n")
        except (EslError, ProtocolError, TimeoutError) as exc:
            self.sessions_failed += 1
            log.warning("esl.outbound_connect_failed", error=str(exc) or type(exc).__name__)
            await conn.close()
            return
        session = OutboundSession(conn, dispatcher, EslEvent(reply.frame.headers))
        holder.append(session)
        self.sessions_started += 1
        dispatcher.start()
        with log_context(call_id=session.unique_id):
            try:
                await self._handler(session)
            except (EslError, ProtocolError) as exc:
                log.warning("esl.outbound_session_ended", error=str(exc))
            except Exception:
                log.exception("esl.outbound_handler_failed")
            finally:
                with contextlib.suppress(Exception):
                    await session.close()
