"""``python -m cc_platform``: every service (and later the simulator) in one event loop.

Each service keeps its own app, port and metrics registry, exactly as when it runs alone; they
share the process's in-process bus (``memory://local``) and SQLite file unless CC_AMQP_URL and
CC_DATABASE_URL point at RabbitMQ and PostgreSQL. CC_HTTP_PORT is ignored here: each service
listens on its default port plus CC_PLATFORM_PORT_OFFSET (default 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import uvicorn

from cc_common.logging import configure_logging, get_logger
from cc_common.settings import load_settings
from cc_platform.services import SERVICES

log = get_logger("cc_platform")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the platform, which stops all together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_servers(port_offset: int) -> list[uvicorn.Server]:
    """Build one uvicorn server per service on its default port plus ``port_offset``."""
    servers: list[uvicorn.Server] = []
    for spec in SERVICES:
        settings = load_settings(spec.settings_cls, http_port=None)
        port = settings.default_http_port + port_offset
        config = uvicorn.Config(
            spec.create_app(settings),
            host=settings.http_host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        servers.append(_Server(config))
        log.info("platform.service", service=spec.name, url=f"http://{settings.http_host}:{port}")
    return servers


async def run_platform(port_offset: int = 0) -> None:
    """Serve every service until SIGINT or SIGTERM."""
    servers = build_servers(port_offset)

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_all)
    await asyncio.gather(*(server.serve() for server in servers))


def main() -> None:
    """Entry point of ``make run``."""
    configure_logging(os.environ.get("CC_LOG_LEVEL", "INFO"))
    asyncio.run(run_platform(int(os.environ.get("CC_PLATFORM_PORT_OFFSET", "0"))))


if __name__ == "__main__":
    main()
