"""The inbound Event Socket listener (mod_event_socket's port, 8021 by default)."""

from __future__ import annotations

import asyncio
import contextlib

from cc_sim.engine.switch import Switch
from cc_sim.esl.listener import Listener, ListenerOptions


class EslServer:
    """Accepts ESL clients on 127.0.0.1 and serves each with a :class:`Listener`."""

    def __init__(
        self, switch: Switch, options: ListenerOptions, *, host: str = "127.0.0.1", port: int = 8021
    ) -> None:
        self.sw = switch
        self.options = options
        self.host = host
        self.requested_port = port
        self.server: asyncio.Server | None = None
        self.listeners: set[Listener] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        if self.server is None or not self.server.sockets:
            return self.requested_port
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start accepting."""
        self.server = await asyncio.start_server(self._accept, self.host, self.requested_port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener = Listener(self.sw, reader, writer, self.options)
        self.listeners.add(listener)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await listener.run()
        finally:
            self.listeners.discard(listener)
            if task is not None:
                self.tasks.discard(task)

    async def stop(self) -> None:
        """Stop accepting and close every connection."""
        if self.server is not None:
            self.server.close()
        for listener in list(self.listeners):
            listener.running = False
            listener.wake.set()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 1.0)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
