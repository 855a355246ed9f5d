"""The ``socket`` application: connect to a service and let it control the call.

As mod_event_socket does, nothing is sent until the service says ``connect``; the reply is a
CHANNEL_DATA header block; then (async mode) the channel parks and processes the service's
sendmsg commands. The channel's destruction waits until the socket closes (the listener holds
the session), so a lingering service still gets the last events.
"""

from __future__ import annotations

import asyncio
import contextlib

from cc_common.logging import get_logger
from cc_sim.engine import apps
from cc_sim.engine.session import Session
from cc_sim.engine.switch import Switch
from cc_sim.esl.listener import Listener, ListenerOptions

log = get_logger("cc_sim.outbound")

PARK_FALLBACK_SECONDS = 0.05
"""If the service sends nothing after ``connect``, the channel still parks this soon."""


class OutboundConnector:
    """What the switch calls when a channel runs ``socket host:port [async] [full]``."""

    def __init__(self, switch: Switch, options: ListenerOptions) -> None:
        self.sw = switch
        self.options = options
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: set[Listener] = set()

    def __call__(self, sess: Session, host: str, port: int, flags: list[str]) -> None:
        """Start connecting (the socket app blocks until the connection ends)."""
        task = asyncio.get_running_loop().create_task(self._serve(sess, host, port, flags))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, sess: Session, host: str, port: int, flags: list[str]) -> None:
        run = sess.app
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            log.warning("outbound.connect_failed", host=host, port=port, error=str(exc))
            sess.controlled = False
            if run is not None:
                self.sw.finish_app(sess, run)
            return
        listener = Listener(
            self.sw,
            reader,
            writer,
            self.options,
            session=sess,
            async_mode="async" in flags,
            full="full" in flags,
        )
        self.listeners.add(listener)
        sess.holds += 1
        parked = {"done": False}

        def park() -> None:
            if parked["done"] or sess.channel.is_down:
                return
            parked["done"] = True
            current = sess.app
            if current is not None and current.name == "socket":
                apps.park_now(self.sw, sess, current)
            self.sw.advance(sess)

        def connected() -> None:
            listener.after_command.append(lambda: listener.after_command.append(park))
            self.sw.later(sess, PARK_FALLBACK_SECONDS, park)

        listener.on_connected = connected
        try:
            await listener.run()
        finally:
            self.listeners.discard(listener)
            self._released(sess)

    def _released(self, sess: Session) -> None:
        """The socket closed: resume the dialplan if asked to, and let the session go."""
        ch = sess.channel
        if not ch.is_down and ch.get_var("socket_resume") == "true":
            sess.controlled = False
            run = sess.park
            if run is not None and run.name == "socket":
                self.sw.finish_app(sess, run)
        self.sw.release(sess)

    async def close(self) -> None:
        """Close every outbound connection (simulator shutdown)."""
        for listener in list(self.listeners):
            listener.running = False
            listener.wake.set()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
