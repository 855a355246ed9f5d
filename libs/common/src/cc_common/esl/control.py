"""The commands an ESL connection offers, shared by the inbound client and outbound sessions.

A word on ``api``: FreeSWITCH runs ``api`` on the connection's own thread and sends no events on
that connection until the command returns, so a slow ``api`` (originate, a long ``show``) stalls
the event stream. Services use ``bgapi`` (the result comes back as a BACKGROUND_JOB event) or
keep ``api`` calls on a second connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from cc_common.esl import commands
from cc_common.esl.channels import ChannelRow, parse_show_channels
from cc_common.esl.commands import ChannelMessage, HeaderList
from cc_common.esl.connection import BackgroundJob, EslConnection, EventPredicate, Reply
from cc_common.esl.dispatch import EventDispatcher, Handler
from cc_common.esl.errors import CommandError
from cc_common.esl.event import EslEvent

EVENT_FORMATS = ("plain", "json")
"""FreeSWITCH also offers xml; this client decodes plain and JSON only."""


class EslControl:
    """Commands on whichever connection a subclass currently holds."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.dispatcher = dispatcher

    def _connection(self) -> EslConnection:
        raise NotImplementedError

    def _remember(self, line: str, reply: Reply) -> None:
        """Hook: the inbound client records subscriptions here to restore them after reconnect."""

    # ----- events

    def on(self, key: str, handler: Handler) -> Callable[[], None]:
        """Handle events by key: ``CHANNEL_PARK``, ``CUSTOM sofia::reinvite``, ``CUSTOM``, ``*``."""
        return self.dispatcher.on(key, handler)

    async def wait_for_event(self, match: str | EventPredicate) -> EslEvent:
        """Wait for the next event with this key (or matching a predicate) as it arrives."""
        return await self._connection().wait_for_event(_predicate(match))

    # ----- raw commands

    async def command(
        self, line: str, headers: HeaderList = (), body: bytes | str = b"", *, check: bool = False
    ) -> Reply:
        """Send any command and return its reply; with ``check`` a ``-ERR`` raises CommandError."""
        data = commands.encode_command(line, headers, body)
        reply = await self._connection().request(data)
        if check and not reply.ok:
            raise CommandError(line, reply.text)
        return reply

    async def _checked(self, line: str) -> Reply:
        reply = await self.command(line, check=True)
        self._remember(line, reply)
        return reply

    async def api(self, command: str) -> Reply:
        """Run ``api``; it holds back this connection's events meanwhile, so prefer bgapi."""
        return await self._connection().request(commands.encode_command(f"api {command}"))

    async def bgapi(self, command: str, *, job_uuid: str | None = None) -> BackgroundJob:
        """Run ``bgapi`` with our Job-UUID; ``await job.result()`` needs BACKGROUND_JOB events."""
        return await self._connection().bgapi(command, job_uuid=job_uuid)

    async def show_channels(self) -> list[ChannelRow]:
        """Return the live channels (``api show channels as json``) for reconciliation."""
        reply = await self.api("show channels as json")
        return parse_show_channels(reply.text)

    # ----- channel control

    async def sendmsg(self, message: ChannelMessage, *, uuid: str | None = None) -> Reply:
        """Send a message to a channel (the outbound socket's own when ``uuid`` is None)."""
        reply = await self._connection().request(commands.sendmsg(uuid, message))
        if not reply.ok:
            raise CommandError("sendmsg", reply.text)
        return reply

    async def execute(
        self,
        app: str,
        arg: str | None = None,
        *,
        uuid: str | None = None,
        event_lock: bool = False,
        arg_in_body: bool | None = None,
        event_uuid: str | None = None,
        wait: bool = False,
    ) -> EslEvent | None:
        """Execute a dialplan application; with ``wait`` return its CHANNEL_EXECUTE_COMPLETE.

        Waiting tags the message with an Event-UUID, which FreeSWITCH echoes as Application-UUID,
        and needs the channel's events on this connection (``myevents`` or ``event``).
        """
        if wait and event_uuid is None:
            event_uuid = str(_uuid4())
        message = commands.execute(
            app, arg, event_lock=event_lock, event_uuid=event_uuid, arg_in_body=arg_in_body
        )
        done = None
        if wait:
            done = self._connection().wait_for_event(
                lambda e: (
                    e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application-UUID") == event_uuid
                )
            )
        try:
            await self.sendmsg(message, uuid=uuid)
        except BaseException:
            if done is not None:
                done.cancel()
            raise
        if done is None:
            return None
        return await done

    async def hangup(self, cause: str = "NORMAL_CLEARING", *, uuid: str | None = None) -> Reply:
        """Hang the channel up with a cause (NORMAL_CLEARING, USER_BUSY, CALL_REJECTED ...)."""
        return await self.sendmsg(commands.hangup(cause), uuid=uuid)

    async def sendevent(
        self, name: str, headers: HeaderList = (), body: str = "", *, subclass: str | None = None
    ) -> Reply:
        """Fire an event into FreeSWITCH (CUSTOM needs a subclass)."""
        data = commands.sendevent(name, headers, body, subclass=subclass)
        reply = await self._connection().request(data)
        if not reply.ok:
            raise CommandError(f"sendevent {name}", reply.text)
        return reply

    # ----- subscriptions

    async def events(self, fmt: str, *names: str) -> Reply:
        """Subscribe: ``events("plain", "CHANNEL_PARK", "CUSTOM", "sofia::reinvite")``."""
        if fmt not in EVENT_FORMATS:
            raise ValueError(f"event format must be one of {EVENT_FORMATS}, not {fmt!r}")
        tokens = _tokens(names)
        if not tokens:
            raise ValueError("name at least one event (or ALL)")
        return await self._checked(f"event {fmt} {' '.join(tokens)}")

    async def nixevent(self, *names: str) -> Reply:
        """Unsubscribe from some events."""
        return await self._checked(f"nixevent {' '.join(_tokens(names))}")

    async def noevents(self) -> Reply:
        """Unsubscribe from every event (filters stay)."""
        return await self._checked("noevents")

    async def filter(self, header: str, value: str) -> Reply:
        """Only receive events whose header equals value (``/regex/`` works too)."""
        return await self._checked(f"filter {header} {value}")

    async def filter_delete(self, header: str, value: str | None = None) -> Reply:
        """Remove a filter; with no value every filter on that header; ``all`` removes all."""
        line = f"filter delete {header}" + (f" {value}" if value is not None else "")
        return await self._checked(line)

    async def myevents(self, uuid: str | None = None, fmt: str | None = None) -> Reply:
        """Receive only one channel's events (outbound: the socket's own channel)."""
        if fmt is not None and fmt not in EVENT_FORMATS:
            raise ValueError(f"event format must be one of {EVENT_FORMATS}, not {fmt!r}")
        parts = ["myevents", *(p for p in (uuid, fmt) if p)]
        return await self._checked(" ".join(parts))

    async def divert_events(self, on: bool = True) -> Reply:
        """Have the session's own events (e.g. from inline applications) sent here."""
        return await self._checked(f"divert_events {'on' if on else 'off'}")

    async def linger(self, seconds: int | None = None) -> Reply:
        """Keep the outbound socket open after hangup to read the last events."""
        return await self._checked("linger" if seconds is None else f"linger {seconds}")

    async def nolinger(self) -> Reply:
        """Cancel linger."""
        return await self._checked("nolinger")

    async def exit(self) -> Reply:
        """Ask FreeSWITCH to close the connection (``+OK bye``, then a disconnect notice)."""
        return await self.command("exit")


def _uuid4() -> uuid.UUID:
    return uuid.uuid4()


def _tokens(names: tuple[str, ...]) -> list[str]:
    return [token for name in names for token in name.split()]


def _predicate(match: str | EventPredicate) -> EventPredicate:
    if callable(match):
        return match
    key = match

    def by_key(event: EslEvent) -> bool:
        return key in ("*", event.key, event.name)

    return by_key
