"""One event-socket connection: a reader task, replies in FIFO order, bgapi jobs, event hand-off.

FreeSWITCH answers commands strictly in the order it reads them, so each command registers a
future at the tail of a FIFO *before* its bytes are written, and each ``command/reply`` or
``api/response`` resolves the head. ``bgapi`` registers its Job-UUID the same way, so a
BACKGROUND_JOB that arrives fast is never missed. Events go to a non-blocking sink (the
dispatcher); the reader itself never awaits anything but the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cc_common.esl.errors import (
    CommandError,
    ConnectionLost,
    Disconnected,
    EslError,
    RudeRejection,
)
from cc_common.esl.event import EslEvent, event_from_frame
from cc_common.esl.protocol import Frame, FrameParser, ProtocolError
from cc_common.logging import get_logger

log = get_logger(__name__)

READ_CHUNK = 256 * 1024

EventSink = Callable[[EslEvent], None]
NoticeSink = Callable[[Frame], None]
EventPredicate = Callable[[EslEvent], bool]


@dataclass(frozen=True, slots=True)
class Reply:
    """A ``command/reply`` (text in Reply-Text) or an ``api/response`` (text in the body)."""

    frame: Frame

    @property
    def content_type(self) -> str:
        """Return command/reply or api/response."""
        return self.frame.content_type

    @property
    def text(self) -> str:
        """Return what FreeSWITCH answered: Reply-Text, or the api body."""
        if self.content_type == "api/response":
            return self.frame.body.decode("utf-8", errors="replace")
        return self.frame.get("Reply-Text") or ""

    @property
    def ok(self) -> bool:
        """Return False for ``-ERR ...`` and ``-USAGE ...`` answers."""
        return not self.text.startswith(("-ERR", "-USAGE"))

    @property
    def job_uuid(self) -> str | None:
        """Return the Job-UUID a bgapi reply names."""
        return self.frame.get("Job-UUID")

    def get(self, name: str) -> str | None:
        """Return a header of the reply (``Socket-Mode``, ``Allowed-Events`` ...)."""
        return self.frame.get(name)


@dataclass(frozen=True, slots=True)
class JobResult:
    """The BACKGROUND_JOB event that finished a bgapi command."""

    event: EslEvent

    @property
    def text(self) -> str:
        """Return the command's output (``+OK <uuid>\\n``, ``-ERR NO_ANSWER\\n`` ...)."""
        return self.event.body

    @property
    def ok(self) -> bool:
        """Return True when the output starts with ``+OK``."""
        return self.event.body.startswith("+OK")


class BackgroundJob:
    """A bgapi command running inside FreeSWITCH; await ``result()`` for its BACKGROUND_JOB."""

    __slots__ = ("_future", "command", "job_uuid")

    def __init__(self, job_uuid: str, command: str, future: asyncio.Future[JobResult]) -> None:
        self.job_uuid = job_uuid
        self.command = command
        self._future = future

    def __repr__(self) -> str:
        return f"BackgroundJob({self.job_uuid!r}, {self.command[:40]!r})"

    def done(self) -> bool:
        """Return True once the result (or a failure) is in."""
        return self._future.done()

    async def result(self) -> JobResult:
        """Wait for the job's BACKGROUND_JOB; ConnectionLost if the socket went first.

        Bound the wait with ``asyncio.timeout``; giving up does not cancel the job.
        """
        return await asyncio.shield(self._future)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # mark retrieved: nobody may be waiting on a job we fail


class EslConnection:
    """The reader task and request bookkeeping of one socket (inbound or outbound)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_event: EventSink,
        on_notice: NoticeSink | None = None,
        on_log: NoticeSink | None = None,
        request_timeout: float | None = 30.0,
        name: str = "esl",
    ) -> None:
        self.name = name
        self.request_timeout = request_timeout
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._on_notice = on_notice
        self._on_log = on_log
        self._parser = FrameParser()
        self._replies: deque[asyncio.Future[Reply]] = deque()
        self._jobs: dict[str, asyncio.Future[JobResult]] = {}
        self._waiters: list[tuple[EventPredicate, asyncio.Future[EslEvent]]] = []
        loop = asyncio.get_running_loop()
        self._greeting: asyncio.Future[Frame] = loop.create_future()
        self._closed: asyncio.Future[BaseException] = loop.create_future()
        self._task: asyncio.Task[None] | None = None
        self._closing_reason: BaseException | None = None
        self.lingering = False
        self.bad_events = 0

    # ----- lifecycle

    def start(self) -> None:
        """Start the reader task."""
        self._task = asyncio.get_running_loop().create_task(self._read_loop(), name=self.name)

    @property
    def is_open(self) -> bool:
        """Return True until the socket has closed for any reason."""
        return not self._closed.done()

    @property
    def close_reason(self) -> BaseException | None:
        """Return why the connection ended (Disconnected, ConnectionLost, ProtocolError)."""
        return self._closed.result() if self._closed.done() else None

    async def wait_closed(self) -> BaseException:
        """Wait until the reader has stopped; return why."""
        return await asyncio.shield(self._closed)

    async def wait_greeting(self) -> Frame:
        """Wait for FreeSWITCH's ``auth/request`` (RudeRejection if its ACL refused us)."""
        return await asyncio.shield(self._greeting)

    async def close(self) -> None:
        """Close the socket and wait for the reader to finish."""
        if self._closing_reason is None:
            self._closing_reason = ConnectionLost("connection closed by us")
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._finish(self._closing_reason)

    # ----- requests

    async def request(self, data: bytes) -> Reply:
        """Send one command and wait (up to ``request_timeout``) for the next reply."""
        future = self._register_reply()
        self._write(data)
        async with asyncio.timeout(self.request_timeout):
            await self._drain()
            return await future

    def _register_reply(self) -> asyncio.Future[Reply]:
        if self._closed.done():
            raise self._closed_error()
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies.append(future)
        return future

    def _write(self, data: bytes) -> None:
        # No await between registering a future and writing its bytes: FIFO order holds.
        self._writer.write(data)

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionLost(f"write failed: {exc}") from exc

    async def bgapi(self, command: str, *, job_uuid: str | None = None) -> BackgroundJob:
        """Run ``bgapi`` with our own Job-UUID, registered before the bytes leave."""
        if "\n" in command or "\r" in command:
            raise ValueError("bgapi command must not contain a line break")
        job_id = job_uuid or str(uuid.uuid4())
        if job_id in self._jobs:
            raise ValueError(f"job {job_id} is already running")
        loop = asyncio.get_running_loop()
        job_future: asyncio.Future[JobResult] = loop.create_future()
        reply_future = self._register_reply()
        self._jobs[job_id] = job_future
        self._write(f"bgapi {command}\nJob-UUID: {job_id}\n\n".encode())
        try:
            async with asyncio.timeout(self.request_timeout):
                await self._drain()
                reply = await reply_future
        except BaseException:
            self._jobs.pop(job_id, None)
            raise
        if not reply.ok:
            self._jobs.pop(job_id, None)
            raise CommandError(f"bgapi {command}", reply.text)
        answered = reply.job_uuid or job_id
        if answered != job_id:  # a switch that ignored our header: follow its id
            self._jobs[answered] = self._jobs.pop(job_id)
        return BackgroundJob(answered, command, job_future)

    def wait_for_event(self, predicate: EventPredicate) -> asyncio.Future[EslEvent]:
        """Return a future for the next event matching ``predicate``; register it before acting."""
        future: asyncio.Future[EslEvent] = asyncio.get_running_loop().create_future()
        if self._closed.done():
            _fail(future, self._closed_error())
        else:
            self._waiters.append((predicate, future))
        return future

    # ----- reading

    async def _read_loop(self) -> None:
        reason: BaseException = ConnectionLost("connection closed by FreeSWITCH")
        try:
            while True:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    break
                for frame in self._parser.feed(data):
                    stop = self._route(frame)
                    if stop is not None:
                        reason = stop
                        return
        except ProtocolError as exc:
            reason = exc
            log.error("esl.protocol_error", connection=self.name, error=str(exc))
        except (ConnectionError, OSError) as exc:
            reason = ConnectionLost(f"socket error: {exc}")
        finally:
            self._writer.close()  # reading is over, so is the connection
            self._finish(self._closing_reason or reason)

    def _route(self, frame: Frame) -> BaseException | None:
        """Handle one frame; return a reason when the connection is over."""
        content_type = frame.content_type
        if content_type.startswith("text/event-"):
            self._event(frame)
        elif content_type in ("command/reply", "api/response"):
            self._reply(frame)
        elif content_type == "text/disconnect-notice":
            return self._disconnect_notice(frame)
        elif content_type == "auth/request":
            if not self._greeting.done():
                self._greeting.set_result(frame)
        elif content_type == "text/rude-rejection":
            rejection = RudeRejection(frame.body.decode("utf-8", errors="replace").strip())
            _fail(self._greeting, rejection)
            return rejection
        elif content_type == "log/data":
            if self._on_log is not None:
                self._on_log(frame)
        else:
            log.warning("esl.unexpected_frame", connection=self.name, content_type=content_type)
        return None

    def _event(self, frame: Frame) -> None:
        try:
            event = event_from_frame(frame)
        except ProtocolError as exc:
            # Framing is intact (Content-Length held); only this event is unreadable.
            self.bad_events += 1
            log.error("esl.bad_event", connection=self.name, error=str(exc))
            return
        if event.name == "BACKGROUND_JOB":
            job = self._jobs.pop(event.job_uuid or "", None)
            if job is not None and not job.done():
                job.set_result(JobResult(event))
        if self._waiters:
            self._wake_waiters(event)
        self._on_event(event)

    def _wake_waiters(self, event: EslEvent) -> None:
        still: list[tuple[EventPredicate, asyncio.Future[EslEvent]]] = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                matched = predicate(event)
            except Exception as exc:
                _fail(future, exc)
                continue
            if matched:
                future.set_result(event)
            else:
                still.append((predicate, future))
        self._waiters = still

    def _reply(self, frame: Frame) -> None:
        if self._replies:
            future = self._replies.popleft()
            if not future.done():  # a caller that gave up still owns its slot in the FIFO
                future.set_result(Reply(frame))
            return
        log.warning("esl.unexpected_reply", connection=self.name, reply=Reply(frame).text[:80])

    def _disconnect_notice(self, frame: Frame) -> BaseException | None:
        disposition = frame.get("Content-Disposition")
        if disposition == "linger":
            self.lingering = True
            if self._on_notice is not None:
                self._on_notice(frame)
            return None
        if self._on_notice is not None:
            self._on_notice(frame)
        return Disconnected(
            frame.body.decode("utf-8", errors="replace").strip(), disposition=disposition
        )

    def _closed_error(self) -> BaseException:
        reason = self._closed.result() if self._closed.done() else None
        if isinstance(reason, EslError | ProtocolError):
            return ConnectionLost(f"connection is closed: {reason}")
        return ConnectionLost("connection is closed")

    def _finish(self, reason: BaseException) -> None:
        if self._closed.done():
            return
        self._closed.set_result(reason)
        lost = reason if isinstance(reason, ConnectionLost) else ConnectionLost(str(reason))
        _fail(self._greeting, lost)
        while self._replies:
            _fail(self._replies.popleft(), lost)
        for job in self._jobs.values():
            _fail(job, lost)
        self._jobs.clear()
        for _, future in self._waiters:
            _fail(future, lost)
        self._waiters.clear()
