"""FreeSWITCH's side of recording: start, mask, unmask and stop, and RECORD_STOP events.

Commands go out as ``bgapi`` so the inbound connection never blocks its own events. A uuid or
path that reaches the switch is checked first: it is never pasted raw into a command.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from cc_common.esl import EslEvent, InboundClient

RECORDING_EVENTS = ("RECORD_STOP", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB")
_UUID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")


class SwitchRefused(Exception):
    """FreeSWITCH answered -ERR (no such channel, cannot record ...); the text says why."""


def checked(uuid: str, path: str) -> tuple[str, str]:
    """Return uuid and path when both are safe to put in a command; raise ValueError if not."""
    if not _UUID.match(uuid):
        raise ValueError(f"not a channel uuid: {uuid!r}")
    if not _PATH.match(path) or ".." in path:
        raise ValueError(f"not a recording path: {path!r}")
    return uuid, path


class SwitchRecorder:
    """Recording commands over an inbound ESL connection."""

    def __init__(self, client: InboundClient, *, timeout: float = 10.0) -> None:
        self.client = client
        self._timeout = timeout

    async def _run(self, command: str) -> str:
        job = await self.client.bgapi(command)
        async with asyncio.timeout(self._timeout):
            result = await job.result()
        if not result.ok:
            raise SwitchRefused(f"{command.split()[0]}: {result.text.strip()}")
        return result.text

    async def start(self, uuid: str, path: str, *, stereo: bool) -> None:
        """Set stereo or mono on the channel, then start recording it to ``path``."""
        uuid, path = checked(uuid, path)
        await self._run(f"uuid_setvar {uuid} RECORD_STEREO {'true' if stereo else 'false'}")
        await self._run(f"uuid_record {uuid} start {path}")

    async def mask(self, uuid: str, path: str) -> None:
        """Write silence instead of audio from now on (PCI pause)."""
        uuid, path = checked(uuid, path)
        await self._run(f"uuid_record {uuid} mask {path}")

    async def unmask(self, uuid: str, path: str) -> None:
        """Record audio again."""
        uuid, path = checked(uuid, path)
        await self._run(f"uuid_record {uuid} unmask {path}")

    def on_record_stop(self, handler: Callable[[str, str], Awaitable[None]]) -> None:
        """Call ``handler(channel uuid, path)`` when FreeSWITCH closes a recording."""

        async def on_event(event: EslEvent) -> None:
            path = event.get("Record-File-Path")
            if event.unique_id and path:
                await handler(event.unique_id, path)

        self.client.on("RECORD_STOP", on_event)

    def on_hangup(self, handler: Callable[[str], Awaitable[None]]) -> None:
        """Call ``handler(channel uuid)`` when a channel is gone (a recording ends with it)."""

        async def on_event(event: EslEvent) -> None:
            if event.unique_id:
                await handler(event.unique_id)

        self.client.on("CHANNEL_HANGUP_COMPLETE", on_event)

    async def subscribe(self) -> None:
        """Ask for the events recording needs (restored by the client on reconnect)."""
        await self.client.events("plain", *RECORDING_EVENTS)
