"""The embeddable simulator: a simulated switch behind a real Event Socket, start/stop in-process.

async with Simulator(SimConfig(esl_port=0, time_compression=20)) as sim:
    client = InboundClient("127.0.0.1", sim.esl_port, "ClueCon")
    sim.register_agent("1001")
    ...
"""

from __future__ import annotations

import asyncio
import random
import uuid as uuidlib
from types import TracebackType

from cc_common.logging import get_logger
from cc_sim.clock import LoopScheduler, Timer
from cc_sim.config import SimConfig, validate
from cc_sim.core.dialplan import Dialplan, default_dialplan
from cc_sim.core.events import HostInfo
from cc_sim.engine.endpoints import AgentPhone, CallerScript, Directory
from cc_sim.engine.switch import Switch, SwitchSettings
from cc_sim.esl.listener import ListenerOptions
from cc_sim.esl.outbound import OutboundConnector
from cc_sim.esl.server import EslServer
from cc_sim.people import Callers

log = get_logger("cc_sim")


class Simulator:
    """A running FreeSWITCH stand-in: switch, ESL server, outbound sockets, people, heartbeat."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        dialplan: Dialplan | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.config = validate(config or SimConfig())
        self.dialplan = dialplan or default_dialplan(socket_address=self.config.socket_address)
        for context, number, actions in self.config.routes:
            self.dialplan.set_extension(context, number, list(actions))
        rng = random.Random(self.config.seed)
        self.directory = directory or Directory(rng=rng)
        for user in self.config.agents:
            self.directory.register(AgentPhone(user, answer_delay=self.config.agent_answer_delay))
        self.scheduler: LoopScheduler | None = None
        self._switch: Switch | None = None
        self.server: EslServer | None = None
        self.outbound: OutboundConnector | None = None
        self._heartbeat: Timer | None = None
        self._callers: Callers | None = None

    @property
    def switch(self) -> Switch:
        """Return the running switch (after start)."""
        if self._switch is None:
            raise RuntimeError("the simulator is not started")
        return self._switch

    @property
    def callers(self) -> Callers:
        """Return the caller factory (after start)."""
        if self._callers is None:
            raise RuntimeError("the simulator is not started")
        return self._callers

    @property
    def esl_port(self) -> int:
        """Return the bound ESL port."""
        if self.server is None:
            raise RuntimeError("the simulator is not started")
        return self.server.port

    async def start(self) -> Simulator:
        """Create the switch and open the ESL port."""
        config = self.config
        self.scheduler = LoopScheduler(config.time_compression, start_epoch=config.start_epoch)
        host = HostInfo(
            core_uuid=config.core_uuid or str(uuidlib.uuid4()), hostname=config.hostname
        )
        settings = SwitchSettings(
            default_file_seconds=config.default_file_seconds,
            originate_reply_seconds=config.originate_reply_seconds,
            originate_setup_seconds=config.originate_setup_seconds,
            early_bridge_cancel=config.early_bridge_cancel,
            listing_lag_seconds=config.listing_lag_seconds,
            seed=config.seed,
        )
        switch = Switch(
            scheduler=self.scheduler, dialplan=self.dialplan, host=host, settings=settings
        )
        switch.directory = self.directory
        options = ListenerOptions(password=config.esl_password, users=dict(config.esl_users))
        self.outbound = OutboundConnector(switch, options)
        switch.outbound_connector = self.outbound
        self._switch = switch
        self._callers = Callers(switch)
        self.server = EslServer(switch, options, host=config.esl_host, port=config.esl_port)
        await self.server.start()
        self._schedule_heartbeat()
        log.info("sim.started", host=config.esl_host, port=self.server.port)
        return self

    async def stop(self) -> None:
        """Close the ESL port and every connection."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self.server is not None:
            await self.server.stop()
        if self.outbound is not None:
            await self.outbound.close()
        await asyncio.sleep(0)
        log.info("sim.stopped")

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- people ----------------------------------------------------------------------------

    def register_agent(self, user: str, **behaviour: object) -> AgentPhone:
        """Register an agent phone (``user/<user>`` rings it); see AgentPhone for behaviour."""
        phone = AgentPhone(user, **behaviour)  # type: ignore[arg-type]
        if self._switch is None:
            return self.directory.register(phone)
        return self._switch.register_phone(phone)

    def unregister_agent(self, user: str) -> None:
        """Take an agent's phone offline (calls to it fail with USER_NOT_REGISTERED)."""
        if self._switch is None:
            self.directory.unregister(user)
        else:
            self._switch.unregister_phone(user)

    def place_call(
        self,
        destination: str,
        *,
        caller_number: str = "5550100",
        caller_name: str = "",
        script: CallerScript | None = None,
        context: str = "public",
    ) -> str:
        """A caller dials ``destination``; return the new inbound channel's uuid."""
        return self.callers.dial(
            destination,
            caller_number=caller_number,
            caller_name=caller_name or caller_number,
            script=script or CallerScript(),
            context=context,
        )

    # ---- heartbeat -------------------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        assert self.scheduler is not None
        self._heartbeat = self.scheduler.call_later(self.config.heartbeat_seconds, self._beat)

    def _beat(self) -> None:
        switch = self.switch
        up_us = switch.now_us() - switch.started_us
        switch.fire("HEARTBEAT", post=heartbeat_headers(switch, up_us))
        switch.fire(
            "RE_SCHEDULE",
            post=[
                ("Task-ID", "1"),
                ("Task-Desc", "heartbeat"),
                ("Task-Group", "core"),
                (
                    "Task-Runtime",
                    str(switch.now_us() // 1_000_000 + int(self.config.heartbeat_seconds)),
                ),
            ],
        )
        self._schedule_heartbeat()


def heartbeat_headers(switch: Switch, up_us: int) -> list[tuple[str, str]]:
    """Return HEARTBEAT's headers (uptime, session counts)."""
    seconds, micros = divmod(up_us, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)
    uptime = (
        f"{years} years, {days} days, {hours} hours, {minutes} minutes, {seconds} seconds, "
        f"{micros // 1000} milliseconds, {micros % 1000} microseconds"
    )
    return [
        ("Event-Info", "System Ready"),
        ("Up-Time", uptime),
        ("FreeSWITCH-Version", "1.10.12-release~64bit"),
        ("Uptime-msec", str(up_us // 1000)),
        ("Session-Count", str(switch.live_count())),
        ("Max-Sessions", str(switch.settings.max_sessions)),
        ("Session-Per-Sec", str(switch.settings.sessions_per_second)),
        ("Session-Per-Sec-Last", "0"),
        ("Session-Per-Sec-Max", "0"),
        ("Session-Per-Sec-FiveMin", "0"),
        ("Session-Since-Startup", str(switch.sessions_since_startup)),
        ("Session-Peak-Max", str(switch.peak_sessions)),
        ("Session-Peak-FiveMin", str(switch.peak_sessions)),
        ("Idle-CPU", "99.000000"),
    ]
