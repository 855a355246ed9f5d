"""A RabbitMQ node of a test's own, to restart and kill at will without touching the shared one.

The node runs from the installed ``rabbitmq-server`` under a unique name (``cc-test-<hex>``), on
free loopback ports, with its database, logs, Erlang cookie (``HOME``) and configuration in a
directory of its own; only epmd is shared, and a unique name keeps it apart there.

    node = PrivateRabbitNode(tmp_path)
    await node.start()
    bus = RabbitBus(node.url, service="test")
    await node.restart()          # SIGKILL, then the same node (same data, same port) again
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

import aio_pika

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
"""Preferred over the ``/usr/sbin`` wrapper, which switches to the ``rabbitmq`` user."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rabbitmq_server() -> str:
    """Return the path of the ``rabbitmq-server`` script to run a node with."""
    for candidate in SERVER_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise FileNotFoundError("rabbitmq-server is not installed")
    return found


class PrivateRabbitNode:
    """One RabbitMQ node in ``base``, listening on 127.0.0.1 on ports of its own."""

    def __init__(self, base: Path, *, boot_timeout: float = 60.0) -> None:
        self.base = base
        self.name = f"cc-test-{uuid.uuid4().hex[:10]}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.boot_timeout = boot_timeout
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """Return the AMQP URL of the node (guest may connect over loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        """Return True while the node's process is alive."""
        return self._process is not None and self._process.returncode is None

    def _environment(self) -> dict[str, str]:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            "log.console = false\n"
        )
        plugins = self.base / "enabled_plugins"
        plugins.write_text("[].\n")
        env = dict(os.environ)
        env.update(
            HOME=str(self.base),  # the Erlang cookie lives here, not in the shared one
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(config.with_suffix("")),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_PID_FILE=str(self.base / "rabbitmq.pid"),
        )
        env.pop("RABBITMQ_CONF_ENV_FILE", None)
        return env

    async def start(self) -> None:
        """Start the node and return once it accepts AMQP connections."""
        if self.running:
            return
        env = self._environment()
        with (self.base / "server.out").open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                rabbitmq_server(),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one
            )
        self.starts += 1
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.boot_timeout
        while True:
            if not self.running:
                raise RuntimeError(f"RabbitMQ node {self.name} exited: see {self.base}/log")
            try:
                connection = await aio_pika.connect(self.url, timeout=2)
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"RabbitMQ node {self.name} did not boot") from None
                await asyncio.sleep(0.2)
                continue
            await connection.close()
            return

    async def close_connections(self, reason: str = "test") -> None:
        """Have the broker close every client connection (``rabbitmqctl close_all_connections``)."""
        ctl = str(Path(rabbitmq_server()).with_name("rabbitmqctl"))
        command = [ctl, "-n", self.name, "close_all_connections", reason]
        process = await asyncio.create_subprocess_exec(
            *command,
            env=self._environment(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"rabbitmqctl failed: {output.decode(errors='replace')}")

    async def kill(self) -> None:
        """Kill the node at once (SIGKILL to its process group), as a crash or power cut would."""
        await self._signal(signal.SIGKILL)

    async def stop(self) -> None:
        """Stop the node cleanly (SIGTERM), killing it if it takes more than 20 s."""
        await self._signal(signal.SIGTERM, grace=20.0)

    async def restart(self, *, kill: bool = True) -> None:
        """Stop (by default kill) the node and start it again with the same data and ports."""
        if kill:
            await self.kill()
        else:
            await self.stop()
        await self.start()

    async def _signal(self, sig: signal.Signals, grace: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        try:
            os.killpg(process.pid, sig)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        except ProcessLookupError:
            pass
        await self._wait_port_free()

    async def _wait_port_free(self) -> None:
        """Wait until nothing listens on the node's port (the Erlang VM may linger briefly)."""
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            await asyncio.sleep(0.1)

    async def __aenter__(self) -> PrivateRabbitNode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()
