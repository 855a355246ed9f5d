"""``python -m cc_platform`` (``make run``): the FreeSWITCH simulator, every service and the demo
day in one event loop.

Each service keeps its own app, port and metrics registry, exactly as when it runs alone; they
share the process's in-process bus (``memory://local``) and SQLite file unless CC_AMQP_URL and
CC_DATABASE_URL point at RabbitMQ and PostgreSQL. CC_HTTP_PORT is ignored here: each service
listens on its default port plus CC_PLATFORM_PORT_OFFSET (default 0). The simulator's event
socket is on 8021 plus the offset; set CC_PLATFORM_SIMULATOR=false to use the FreeSWITCH at
CC_ESL_HOST:CC_ESL_PORT instead. The demo center file (CC_PLATFORM_CENTER) is applied through
routing's API at start; with the simulator and traffic on (the default unless RabbitMQ or
PostgreSQL are configured), its day plays in compressed time (CC_PLATFORM_DAY_MINUTES).

The internal APIs require a service token. Without CC_SERVICE_TOKEN (in the environment or the
secrets dir) the platform makes one, once, in ``var/secrets/CC_SERVICE_TOKEN`` (CC_PLATFORM_VAR
moves ``var/``) and points CC_SECRETS_DIR there; send it as ``Authorization: Bearer <token>``.
The key sealing webhook signing secrets (CC_CRM_WEBHOOK_KEYS) is made the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from cc_common.logging import configure_logging, get_logger
from cc_common.settings import SettingsError, load_settings
from cc_crm_api.adapters.sealing import new_key_text
from cc_metrics.app import create_app as create_metrics
from cc_platform.center import DEMO_CENTER, CenterError, DemoCenter, load_center
from cc_platform.clock import (
    DayPlan,
    commit_without_fsync,
    plan_day,
    save_last_instant,
)
from cc_platform.demo import APPLIED_FILE, DemoDay, RoutingDesk, apply_center, routing_client
from cc_platform.ports import platform_ports, port_free
from cc_platform.services import SERVICES, ServiceSpec, peer_urls
from cc_platform.terminal import own_ctrl_c
from cc_routing.app import create_app as create_routing
from cc_sim.config import from_env
from cc_sim.core.dialplan import parse_actions
from cc_sim.core.xml_dialplan import read_dialplan_dir
from cc_sim.simulator import Simulator

log = get_logger("cc_platform")

READY_WITHIN_SECONDS = 120.0
DESK_ROUND_SECONDS = 2.0
"""How often (real seconds) agents made not ready for missed calls notice and come back."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the platform, which stops all together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OptionError(ValueError):
    """A ``CC_PLATFORM_*`` setting that cannot be used (the message names it)."""


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise OptionError(f"{name} must be true or false, got {value!r}")


def _number(name: str, default: float, *, low: float, high: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise OptionError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise OptionError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Options:
    """What ``make run`` reads from its environment (besides each service's own settings)."""

    port_offset: int
    simulator: bool
    traffic: bool
    center: DemoCenter
    day_minutes: float
    state_dir: Path
    log_file: Path | None = None

    @classmethod
    def from_env(cls) -> Options:
        """Read CC_PLATFORM_* or raise :class:`OptionError` / :class:`CenterError`."""
        offset = int(_number("CC_PLATFORM_PORT_OFFSET", 0, low=0, high=50_000))
        simulator = _flag("CC_PLATFORM_SIMULATOR", True)
        external = not os.environ.get("CC_AMQP_URL", "memory://").startswith("memory://") or (
            not os.environ.get("CC_DATABASE_URL", "sqlite").startswith("sqlite")
        )
        busy = [p for p in platform_ports(offset, simulator=simulator) if not port_free(p)]
        if busy:
            raise OptionError(
                f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 already in use (another"
                " make run?); set CC_PLATFORM_PORT_OFFSET to run a second platform beside it"
            )
        traffic = _flag("CC_PLATFORM_TRAFFIC", simulator and not external)
        if traffic and not simulator:
            raise OptionError(
                "CC_PLATFORM_TRAFFIC needs the simulator: demo callers and agents are simulated"
            )
        path = Path(os.environ.get("CC_PLATFORM_CENTER") or DEMO_CENTER)
        return cls(
            port_offset=offset,
            simulator=simulator,
            traffic=traffic,
            center=load_center(path),
            day_minutes=_number("CC_PLATFORM_DAY_MINUTES", 8.0, low=0.05, high=24 * 60),
            state_dir=Path(os.environ.get("CC_PLATFORM_VAR") or "var"),
        )


@dataclass(slots=True)
class Running:
    """One service being served: its spec, settings' address and uvicorn server."""

    spec: ServiceSpec
    url: str
    server: uvicorn.Server
    app: FastAPI


def build_servers(
    port_offset: int,
    esl_port: int | None,
    *,
    clock: Callable[[], float] | None = None,
    clock_rate: float = 1.0,
    center: DemoCenter | None = None,
) -> list[Running]:
    """Build one uvicorn server per service on its default port plus ``port_offset``.

    With ``clock`` (the demo day's, ``clock_rate`` times faster than real time), routing and
    metrics run on it: FreeSWITCH's event times, routing's timers and metrics' intervals agree.
    """
    servers: list[Running] = []
    overrides: dict[str, object] = {"http_port": None}
    if esl_port is not None:
        overrides.update(esl_host="127.0.0.1", esl_port=esl_port)
    for spec in SERVICES:
        extra: dict[str, object] = dict(peer_urls(spec.name, port_offset, dict(os.environ)))
        if spec.name == "ivr" and port_offset:  # its outbound socket moves with the offset too
            extra["ivr_socket_port"] = 8084 + port_offset
        if spec.name == "metrics" and center is not None:
            extra.update(metrics_settings_from(center))
        settings = load_settings(spec.settings_cls, **overrides, **extra)
        if clock is not None and spec.name == "metrics":
            app = create_metrics(settings, clock=_as_datetime(clock))  # type: ignore[arg-type]
        elif clock is not None and spec.name == "routing":
            app = create_routing(settings, clock=clock, clock_rate=clock_rate)  # type: ignore[arg-type]
        else:
            app = spec.create_app(settings)
        port = settings.default_http_port + port_offset
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        url = f"http://{settings.http_host}:{port}"
        servers.append(Running(spec, url, _Server(config), app))
    return servers


def metrics_settings_from(center: DemoCenter) -> dict[str, object]:
    """What the metrics service takes from the center file: the queues and teams it shows before
    any call, the break reasons it labels, and the service-level threshold and target."""
    return {
        "metrics_queues": list(center.spec.queues),
        "metrics_teams": list(center.spec.teams),
        "break_reasons": list(center.spec.break_reasons),
        "service_level_seconds": int(center.service_level.threshold_seconds),
        "service_level_target": center.service_level.target,
    }


def ensure_service_token(var: Path) -> Path | None:
    """Make sure the services have a token: the configured one, or one generated into ``var``."""
    return ensure_secret(var, "CC_SERVICE_TOKEN", lambda: secrets.token_urlsafe(32))


def ensure_webhook_keys(var: Path) -> Path | None:
    """Make sure the crm-api can seal webhook secrets: the configured key, or one generated."""
    return ensure_secret(var, "CC_CRM_WEBHOOK_KEYS", new_key_text)


def ensure_secret(var: Path, name: str, make: Callable[[], str]) -> Path | None:
    """Use the configured secret ``name``, or generate one, once, into ``var/secrets``."""
    if os.environ.get(name):
        return None
    configured = os.environ.get("CC_SECRETS_DIR")
    if configured and (Path(configured) / name).is_file():
        return Path(configured) / name
    directory = var / "secrets"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(make() + "\n")
        log.info("platform.secret_generated", name=name, path=str(path))
    if configured and configured != str(directory):  # the user's own dir: leave it, pass it on
        os.environ[name] = path.read_text().strip()
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


def _as_datetime(clock: Callable[[], float]) -> Callable[[], datetime]:
    return lambda: datetime.fromtimestamp(clock(), UTC)


async def run_platform(options: Options) -> int:
    """Serve every service (and the simulator and its day) until SIGINT or SIGTERM."""
    center = options.center
    state_file = options.state_dir / "demo-clock.json"
    async with contextlib.AsyncExitStack() as stack:
        esl_port = None
        sim: Simulator | None = None
        plan: DayPlan | None = None
        clock: Callable[[], float] | None = None
        if options.simulator:
            password = os.environ.get("CC_ESL_PASSWORD", "ClueCon")  # what the services will send
            config = from_env().with_overrides(
                esl_host="127.0.0.1", esl_port=8021 + options.port_offset, esl_password=password
            )
            routes = tuple((c, n, tuple(parse_actions(a))) for c, n, a in center.routes())
            config = config.with_overrides(routes=config.routes + routes)
            if options.traffic:
                plan = plan_day(
                    state_file,
                    opens_minute=center.opens_minute,
                    closes_minute=center.closes_minute,
                    day_minutes=options.day_minutes,
                )
                config = config.with_overrides(
                    time_compression=plan.compression, start_epoch=plan.start_epoch
                )
                commit_without_fsync()
            sim = Simulator(config)
            stack.push_async_callback(sim.stop)
            esl_port = config.esl_port
            if plan is not None:
                clock = SwitchClock(sim, plan.start_epoch)
        servers = build_servers(
            options.port_offset,
            esl_port,
            clock=clock,
            clock_rate=plan.compression if plan is not None else 1.0,
            center=center,
        )
        return await _serve(servers, options, sim, plan, state_file)


class SwitchClock:
    """The simulator's clock, read by routing and metrics; stands still until it starts.

    The simulator starts only once the services answer, so the day's lead-in is not spent
    waiting for them to come up.
    """

    def __init__(self, sim: Simulator, start_epoch: float) -> None:
        self.sim = sim
        self.start_epoch = start_epoch

    def __call__(self) -> float:
        try:
            return self.sim.switch.now_us() / 1_000_000
        except RuntimeError:  # not started yet
            return self.start_epoch


async def _serve(
    servers: list[Running],
    options: Options,
    sim: Simulator | None,
    plan: DayPlan | None,
    state_file: Path,
) -> int:
    """Serve until SIGINT/SIGTERM; then stop the day first, then the services, then say how."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    serving = asyncio.gather(*(running.server.serve() for running in servers))
    demo = asyncio.create_task(_demo(servers, options, sim, plan, state_file, stopping))

    async def stop_when_asked() -> None:
        await stopping.wait()
        if not demo.done():
            demo.cancel()  # no more callers or desk requests while the services stop
        await asyncio.wait([demo])
        for running in servers:
            running.server.should_exit = True
            board = getattr(running.app.state, "wallboard", None)
            if board is not None:
                board.close()  # open wallboard streams end now, so nothing holds the stop

    stopper = asyncio.create_task(stop_when_asked())
    try:
        await serving
    finally:
        stopping.set()
        await stopper
    failed = False
    if not demo.cancelled() and demo.exception() is not None:
        log.error("platform.demo_failed", error=repr(demo.exception()))
        failed = True
    if sim is not None and plan is not None:
        save_last_instant(state_file, sim.switch.now_us() / 1_000_000)
    return 1 if failed else 0


async def _demo(
    servers: list[Running],
    options: Options,
    sim: Simulator | None,
    plan: DayPlan | None,
    state_file: Path,
    stopping: asyncio.Event,
) -> None:
    """Once every service is ready: apply the center, start the day, say where to look."""
    try:
        await _all_alive(servers)
        if sim is not None:
            await sim.start()
            load_project_dialplan(sim, ivr_socket=f"127.0.0.1:{8084 + options.port_offset}")
            log.info("platform.simulator", esl=f"127.0.0.1:{sim.esl_port}")
        await _all_ready(servers)
        await _play(servers, options, sim, plan, state_file, stopping)
    except Exception:
        log.exception("platform.demo_failed")
        stopping.set()  # nothing half-started keeps running
        raise


async def _play(
    servers: list[Running],
    options: Options,
    sim: Simulator | None,
    plan: DayPlan | None,
    state_file: Path,
    stopping: asyncio.Event,
) -> None:
    routing = next(r for r in servers if r.spec.name == "routing")
    day: DemoDay | None = None
    async with routing_client(routing.url) as client:
        await apply_center(client, options.center, options.state_dir / APPLIED_FILE)
        desk = RoutingDesk(client)
        desk.start()
        try:
            if options.traffic and sim is not None and plan is not None:
                for agent in options.center.spec.agents:  # a new day: nobody is on shift yet
                    desk.logout(agent.id)
                day = DemoDay(options.center, sim, desk, plan.midnight)
                day.start()
            print(banner(servers, options, sim, plan), flush=True)
            agent_ids = [agent.id for agent in options.center.spec.agents]
            saved = time.monotonic()
            while not stopping.is_set():
                await asyncio.sleep(DESK_ROUND_SECONDS)
                if day is not None:
                    await desk.back_after_missed_calls(agent_ids)
                if sim is not None and plan is not None and time.monotonic() - saved > 5:
                    save_last_instant(state_file, sim.switch.now_us() / 1_000_000)
                    saved = time.monotonic()
        finally:
            if day is not None:
                day.stop()
                log.info("platform.day_summary", queues=day.summary(), desk=desk.sent)
            await desk.stop()


async def _all_alive(servers: list[Running]) -> None:
    """Wait until every service answers /healthz (serving, resources open)."""
    await _all_answer(servers, "/healthz")


async def _all_ready(servers: list[Running]) -> None:
    """Wait until every service answers /readyz with 200."""
    await _all_answer(servers, "/readyz")


async def _all_answer(servers: list[Running], path: str) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        for running in servers:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{running.url}{path}")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{running.spec.name} not ready at {running.url}")
                await asyncio.sleep(0.1)


def banner(
    servers: list[Running], options: Options, sim: Simulator | None, plan: DayPlan | None
) -> str:
    """Return what ``make run`` prints once everything is up: where to look, how to stop."""
    spec = options.center.spec
    metrics = next(r for r in servers if r.spec.name == "metrics")
    lines = [f"Open Contact Center is running: {spec.center.name}"]
    if plan is not None:
        day = datetime.fromtimestamp(plan.midnight, UTC).date().isoformat()
        lines.append(
            f"  demo day {day}, {spec.center.opens}-{spec.center.closes} {spec.center.time_zone}"
            f" played in {options.day_minutes:g} minutes (clock x{plan.compression:g},"
            " set CC_PLATFORM_DAY_MINUTES to change)"
        )
    else:
        lines.append("  no demo traffic (real time); queues and agents from the center file")
    lines.append(f"  wallboard   {metrics.url}/wallboard")
    for running in servers:
        name = running.spec.name
        lines.append(f"  {name:<11} API docs {running.url}/docs   metrics {running.url}/metrics")
    if sim is not None:
        numbers = ", ".join(f"{q.number} {name}" for name, q in spec.queues.items())
        lines.append(
            f"  FreeSWITCH simulator: event socket 127.0.0.1:{sim.esl_port} (password ClueCon);"
            f" queues answer on {numbers}"
        )
    lines.append(f"  data in {options.state_dir}/ (kept between runs; `make reset` starts afresh)")
    if options.log_file is not None:
        lines.append(f"  logs (JSON lines) in {options.log_file}")
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)


def main() -> None:
    """Entry point of ``make run``."""
    # Warnings and errors only by default; CC_LOG_LEVEL=INFO for more.
    level = os.environ.get("CC_LOG_LEVEL") or "WARNING"
    configure_logging(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per desk request is noise
    try:
        options = Options.from_env()
    except (OptionError, CenterError) as exc:
        print(f"configuration error:\n  {exc}".replace("\n", "\n  "), file=sys.stderr)
        raise SystemExit(2) from None
    token = ensure_service_token(options.state_dir)
    if token is not None:
        log.info("platform.service_token", path=str(token))
    ensure_webhook_keys(options.state_dir)
    with contextlib.ExitStack() as stack:
        if sys.stderr.isatty():  # a person is watching: the terminal keeps the banner readable
            options.state_dir.mkdir(parents=True, exist_ok=True)
            path = options.state_dir / "platform.log"
            log_file = stack.enter_context(path.open("a", encoding="utf-8"))
            configure_logging(level, stream=log_file)
            logging.getLogger("httpx").setLevel(logging.WARNING)
            options = replace(options, log_file=path)
        with own_ctrl_c():
            try:
                code = asyncio.run(run_platform(options))
            except SettingsError as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    raise SystemExit(code)


if __name__ == "__main__":
    main()
