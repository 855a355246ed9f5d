"""``python -m cc_platform``: the FreeSWITCH simulator and every service in one event loop.

Each service keeps its own app, port and metrics registry, exactly as when it runs alone; they
share the process's in-process bus (``memory://local``) and SQLite file unless CC_AMQP_URL and
CC_DATABASE_URL point at RabbitMQ and PostgreSQL. CC_HTTP_PORT is ignored here: each service
listens on its default port plus CC_PLATFORM_PORT_OFFSET (default 0). The simulator's event
socket is on 8021 plus the offset; set CC_PLATFORM_SIMULATOR=false to use the FreeSWITCH at
CC_ESL_HOST:CC_ESL_PORT instead.

The internal APIs require a service token. Without CC_SERVICE_TOKEN (in the environment or the
secrets dir) the platform makes one, once, in ``var/secrets/CC_SERVICE_TOKEN`` (CC_PLATFORM_VAR
moves ``var/``) and points CC_SECRETS_DIR there; send it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from cc_common.logging import configure_logging, get_logger
from cc_common.settings import load_settings
from cc_platform.services import SERVICES
from cc_sim.config import from_env
from cc_sim.core.xml_dialplan import read_dialplan_dir
from cc_sim.simulator import Simulator

log = get_logger("cc_platform")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the platform, which stops all together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_servers(port_offset: int, esl_port: int | None) -> list[uvicorn.Server]:
    """Build one uvicorn server per service on its default port plus ``port_offset``."""
    servers: list[uvicorn.Server] = []
    overrides: dict[str, object] = {"http_port": None}
    if esl_port is not None:
        overrides.update(esl_host="127.0.0.1", esl_port=esl_port)
    for spec in SERVICES:
        extra: dict[str, object] = {}
        if spec.name == "ivr" and port_offset:  # its outbound socket moves with the offset too
            extra["ivr_socket_port"] = 8084 + port_offset
        settings = load_settings(spec.settings_cls, **overrides, **extra)
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


def ensure_service_token(var: Path) -> Path | None:
    """Make sure the services have a token: the configured one, or one generated into ``var``."""
    if os.environ.get("CC_SERVICE_TOKEN"):
        return None
    configured = os.environ.get("CC_SECRETS_DIR")
    if configured and (Path(configured) / "CC_SERVICE_TOKEN").is_file():
        return Path(configured) / "CC_SERVICE_TOKEN"
    directory = var / "secrets"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "CC_SERVICE_TOKEN"
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        log.info("platform.token_generated", path=str(path))
    if configured:  # a secrets dir of the user's own: leave it as it is, pass the token on
        os.environ["CC_SERVICE_TOKEN"] = path.read_text().strip()
    else:
        os.environ["CC_SECRETS_DIR"] = str(directory)
    return path


PROJECT_DIALPLAN = Path(__file__).resolve().parents[3] / "freeswitch" / "dialplan"


def load_project_dialplan(sim: Simulator, *, ivr_socket: str) -> None:
    """Give the simulator the project's FreeSWITCH dialplan (contact-center: IVR, then park)."""
    if not PROJECT_DIALPLAN.is_dir():  # installed without the repository's freeswitch/
        return
    contexts, variables = read_dialplan_dir(PROJECT_DIALPLAN)
    for name, extensions in contexts.items():
        sim.dialplan.contexts.setdefault(name, extensions)
    sim.switch.global_vars.update(variables, cc_ivr_socket=ivr_socket)


async def run_platform(port_offset: int = 0, *, simulator: bool = True) -> None:
    """Serve every service (and the simulator) until SIGINT or SIGTERM."""
    async with contextlib.AsyncExitStack() as stack:
        esl_port = None
        if simulator:
            password = os.environ.get("CC_ESL_PASSWORD", "ClueCon")  # what the services will send
            config = from_env().with_overrides(
                esl_host="127.0.0.1", esl_port=8021 + port_offset, esl_password=password
            )
            sim = await stack.enter_async_context(Simulator(config))
            load_project_dialplan(sim, ivr_socket=f"127.0.0.1:{8084 + port_offset}")
            esl_port = sim.esl_port
            log.info("platform.simulator", esl=f"127.0.0.1:{esl_port}")
        await _serve(build_servers(port_offset, esl_port))


async def _serve(servers: list[uvicorn.Server]) -> None:

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
    offset = int(os.environ.get("CC_PLATFORM_PORT_OFFSET", "0"))
    simulator = os.environ.get("CC_PLATFORM_SIMULATOR", "true").lower() not in ("0", "false", "no")
    token = ensure_service_token(Path(os.environ.get("CC_PLATFORM_VAR", "var")))
    if token is not None:
        log.info("platform.service_token", path=str(token))
    asyncio.run(run_platform(offset, simulator=simulator))


if __name__ == "__main__":
    main()
