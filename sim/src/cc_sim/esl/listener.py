"""One Event Socket connection, inbound (a client dialled us) or outbound (the socket app).

Commands are handled one at a time, in order, with mod_event_socket's reply texts; events
queue while a command runs (``api`` blocks events, as in FreeSWITCH) and are written between
commands. A listener that lets MAX_QUEUE events pile up is killed, as FreeSWITCH does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cc_common.esl.protocol import Frame, FrameParser, ProtocolError, encode_headers
from cc_common.logging import get_logger
from cc_sim.core.events import SimEvent
from cc_sim.engine.session import Message, Session
from cc_sim.engine.switch import Switch
from cc_sim.esl.subscription import Subscription

log = get_logger("cc_sim.esl")

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
MAX_QUEUE = 100_000
"""mod_event_socket's MAX_QUEUE_LEN: events waiting for a slow reader before it is killed."""
AUTH_TIMEOUT = 25.0


@dataclass(slots=True)
class ListenerOptions:
    """How a listener authenticates and what it controls."""

    password: str = "ClueCon"
    users: dict[str, str] | None = None
    """userauth credentials: ``user@domain`` -> password."""


class Listener:
    """An ESL connection speaking mod_event_socket's protocol."""

    def __init__(
        self,
        switch: Switch,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        options: ListenerOptions,
        *,
        session: Session | None = None,
        async_mode: bool = True,
        full: bool = True,
        on_close: Callable[[Listener], None] | None = None,
    ) -> None:
        self.sw = switch
        self.reader = reader
        self.writer = writer
        self.options = options
        self.session = session
        self.outbound = session is not None
        self.async_mode = async_mode
        self.full = full
        self.on_close = on_close
        self.authed = self.outbound
        self.running = True
        self.connected = False
        self.format = "plain"
        self.subscription = Subscription()
        self.logging = False
        self.log_level = 0
        self.linger = False
        self.linger_seconds = -1
        self.disco_handled = False
        self.commands: deque[Frame] = deque()
        self.outbox: deque[bytes | SimEvent] = deque()
        self.wake = asyncio.Event()
        self.after_command: list[Callable[[], None]] = []
        self.on_connected: Callable[[], None] | None = None
        self.sw.sinks.append(self)
        self.closed = asyncio.Event()

    # ---- event delivery --------------------------------------------------------------------

    def interested(self, name: str, subclass: str | None) -> bool:
        """Cheap pre-check: could this listener want an event called ``name``?"""
        sub = self.subscription
        return self.running and sub.enabled and (sub.all_events or name in sub.names)

    def __call__(self, event: SimEvent) -> None:
        """Switch sink entry point."""
        self.on_event(event)

    def on_event(self, event: SimEvent) -> None:
        """Switch sink: queue the event if this listener wants it (called synchronously)."""
        if not self.running or not self.subscription.wants(event):
            return
        if len(self.outbox) >= MAX_QUEUE:
            log.warning("esl.listener_killed", reason="lost events", queued=len(self.outbox))
            self.kill("killed listener because of lost events\n")
            return
        self.outbox.append(event)
        self.wake.set()
        if self._ends_session(event):
            self.outbox.append(b"")  # marker: handle the disconnect after this event
            self.wake.set()

    def _ends_session(self, event: SimEvent) -> bool:
        """Return True for the event after which the controlled channel counts as gone."""
        if self.session is None or event.unique_id != self.session.uuid:
            return False
        if event.name == "CHANNEL_HANGUP_COMPLETE":
            return True
        return event.name == "CHANNEL_HANGUP" and not self.linger

    def kill(self, message: str) -> None:
        """Drop the listener with a disconnect notice (lost events)."""
        self.outbox.clear()
        self.running = False
        self.pending_goodbye = message
        self.wake.set()

    # ---- main loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until exit, auth failure, hangup or the peer closes."""
        reader_task = asyncio.create_task(self._read_loop())
        try:
            if not self.outbound:
                self._write(b"Content-Type: auth/request\n\n")
            await self._main_loop()
        finally:
            reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader_task
            await self._close()

    async def _read_loop(self) -> None:
        parser = FrameParser(commands=True)
        try:
            while self.running:
                data = await self.reader.read(65536)
                if not data:
                    break
                for frame in parser.feed(data):
                    self.commands.append(frame)
                self.wake.set()
        except ProtocolError as exc:
            log.warning("esl.protocol_error", error=str(exc))
        except (ConnectionError, OSError):
            pass
        self.peer_closed = True
        self.wake.set()

    peer_closed = False
    pending_goodbye: str | None = None

    async def _main_loop(self) -> None:
        while True:
            if self.commands and self.running:
                frame = self.commands.popleft()
                await self._handle(frame)
                hooks, self.after_command = self.after_command, []
                for hook in hooks:
                    hook()
                continue
            if self.outbox and self.running:
                if await self._flush():
                    return
                continue
            if not self.running or self.peer_closed:
                return
            self.wake.clear()
            await self.wake.wait()

    async def _flush(self) -> bool:
        """Write queued events; return True when the connection must end."""
        format_ = self.format
        while self.outbox and self.running:
            item = self.outbox.popleft()
            if isinstance(item, bytes):
                if await self._disconnect_marker():
                    return True
                continue
            if format_ == "json":
                body = item.json()
            elif format_ == "xml":
                body = xml_event(item)
            else:
                body = item.plain_fast()
            head = f"Content-Length: {len(body)}\nContent-Type: text/event-{format_}\n\n"
            self._write(head.encode() + body)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        return False

    async def _disconnect_marker(self) -> bool:
        """The controlled channel hung up: linger notice, or disconnect and close."""
        if self.disco_handled or self.session is None:
            return False
        self.disco_handled = True
        ch = self.session.channel
        if self.linger:
            notice = (
                "Content-Type: text/disconnect-notice\n"
                f"Controlled-Session-UUID: {ch.uuid}\n"
                "Content-Disposition: linger\n"
                f"Channel-Name: {ch.name}\n"
                f"Linger-Time: {self.linger_seconds}\n"
                "Content-Length: 0\n\n"
            )
            self._write(notice.encode())
            if self.linger_seconds >= 0:
                self.sw.scheduler.call_later(self.linger_seconds, self._linger_expired)
            return False
        self.running = False
        return True

    def _linger_expired(self) -> None:
        self.running = False
        self.wake.set()

    async def _close(self) -> None:
        if self in self.sw.sinks:
            self.sw.sinks.remove(self)
        if not self.peer_closed:
            self._send_disconnect(self.pending_goodbye or GOODBYE)
        with contextlib.suppress(Exception):
            await self.writer.drain()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self.running = False
        self.closed.set()
        if self.on_close is not None:
            self.on_close(self)

    def _send_disconnect(self, message: str) -> None:
        body = message.encode()
        if self.session is not None:
            head = (
                "Content-Type: text/disconnect-notice\n"
                f"Controlled-Session-UUID: {self.session.uuid}\n"
                "Content-Disposition: disconnect\n"
                f"Content-Length: {len(body)}\n\n"
            )
        else:
            head = f"Content-Type: text/disconnect-notice\nContent-Length: {len(body)}\n\n"
        self._write(head.encode() + body)

    def _write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (CHANNEL_DATA has no Content-Length)."""
        self._write(data)

    def reply(self, text: str) -> None:
        """Send a command/reply with Reply-Text."""
        self._write(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())

    def reply_headers(self, headers: list[tuple[str, str]]) -> None:
        """Send a command/reply made of explicit headers (bgapi, userauth)."""
        lines = "".join(f"{name}: {value}\n" for name, value in headers)
        self._write(f"Content-Type: command/reply\n{lines}\n".encode())

    def api_response(self, text: str) -> None:
        """Send an api/response body (FreeSWITCH says -ERR no reply for an empty one)."""
        body = (text or "-ERR no reply\n").encode()
        self._write(f"Content-Type: api/response\nContent-Length: {len(body)}\n\n".encode() + body)

    # ---- commands --------------------------------------------------------------------------

    async def _handle(self, frame: Frame) -> None:
        line = frame.command.strip("\r\n")
        lower = line.lower()
        if lower.startswith("exit") or lower.startswith("..."):
            self.reply("+OK bye")
            self.running = False
            return
        if not self.authed:
            self._handle_auth(line)
            return
        from cc_sim.esl import commands

        try:
            await commands.dispatch(self, frame, line, lower)
        except Exception as exc:  # reply and carry on, as a switch must
            log.exception("esl.command_failed", command=line[:80])
            self.reply(f"-ERR {type(exc).__name__}")

    def _handle_auth(self, line: str) -> None:
        lower = line.lower()
        if lower.startswith("auth "):
            if line[5:].rstrip("\r") == self.options.password:
                self.authed = True
                self.reply("+OK accepted")
            else:
                self.reply("-ERR invalid")
                self.running = False
            return
        if lower.startswith("userauth "):
            credentials = line[9:].strip()
            user, _, password = credentials.partition(":")
            users = self.options.users or {}
            if "@" in user and users.get(user) == password and password:
                self.authed = True
                self.reply_headers(
                    [
                        ("Reply-Text", "+OK accepted"),
                        ("Allowed-Events", "all"),
                        ("Allowed-API", "all"),
                        ("Allowed-LOG", "true"),
                    ]
                )
            else:
                self.reply("-ERR invalid")
                self.running = False
            return
        self.reply("-ERR command not found")

    # ---- outbound (socket application) -----------------------------------------------------

    def channel_data(self) -> bytes:
        """Build the CHANNEL_DATA reply to ``connect``: profile, channel data, reply headers."""
        assert self.session is not None
        ch = self.session.channel
        headers = self.sw.factory.common(
            "CHANNEL_DATA", self.sw.now_us(), ("mod_event_socket.c", "parse_command", 2021)
        )
        headers.extend(ch.profile.headers("Channel"))
        headers.extend(ch.basic_headers())
        headers.extend(ch.variable_headers())
        headers.extend(
            [
                ("Content-Type", "command/reply"),
                ("Reply-Text", "+OK\n"),
                ("Socket-Mode", "async" if self.async_mode else "static"),
                ("Control", "full" if self.full else "single-channel"),
            ]
        )
        return encode_headers(headers) + b"\n"

    def queue_private(self, message: Message) -> None:
        """Queue a sendmsg for the controlled session."""
        assert self.session is not None
        self.sw.deliver(self.session, message)


def xml_event(event: SimEvent) -> bytes:
    """Serialize an event as text/event-xml (switch_event_xmlize's layout)."""
    from xml.sax.saxutils import escape

    lines = ["<event>", "  <headers>"]
    for name, value in event.headers:
        if event.body and name == "Content-Length":
            continue
        lines.append(f"    <{name}>{escape(encode_value_xml(value))}</{name}>")
    lines.append("  </headers>")
    if event.body:
        body = event.body.encode()
        lines.insert(2, f"    <Content-Length>{len(body)}</Content-Length>")
        lines.append(f"  <body>{escape(event.body)}</body>")
    lines.append("</event>")
    return ("\n".join(lines) + "\n").encode()


def encode_value_xml(value: str) -> str:
    """FreeSWITCH URL-encodes header values inside its XML events too."""
    from cc_common.esl.protocol import encode_value

    return encode_value(value)


def new_job_uuid() -> str:
    """Return a Job-UUID for a bgapi without one."""
    return str(uuidlib.uuid4())
