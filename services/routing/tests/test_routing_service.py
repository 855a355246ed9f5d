"""The routing service keeps in step with FreeSWITCH across a lost link and a switch restart.

Routing talks to the switch through a TCP proxy the test can cut. With calls bridged, ringing and
queued, the link goes down; meanwhile callers hang up and a new one parks. When the link is back
routing must be not ready until it has re-synced, then hold exactly the calls the switch has,
with no agent left on a call that ended and no call offered twice. The same after the switch is
killed and started again (every call gone). Runs on the simulator, and on a real FreeSWITCH of
the test's own when CC_TEST_FREESWITCH is set.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from cc_common.bus import Bus
from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_proto import Envelope, EventData
from cc_routing.app import create_app
from cc_routing.reconcile import LEG_GRACE_SECONDS
from cc_routing.service import RoutingService
from cc_routing.settings import RoutingSettings
from cc_routing.testing import EslProxy
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.simulator import Simulator
from cc_sim.switches import RealSwitch, configured_launcher, switch_kinds

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TENANT = "link"
QUEUE = "support"  # extension 7200 parks its caller for this queue
ANSWERS, NEVER_ANSWERS = "loopback/7303/default", "loopback/7302/default"
ANSWERS_LATE = "loopback/7304/default"  # answers after 3 s: during the outage
LATE_EXTENSION = """<include>
  <extension name="cc-test-7304">
    <condition field="destination_number" expression="^7304$">
      <action application="sleep" data="3000"/>
      <action application="answer"/>
      <action application="park"/>
    </condition>
  </extension>
</include>
"""
ROUTES = (
    ("default", "7304", "sleep:3000;answer;park"),
    ("default", "7200", "set:cc_queue=support;set:cc_priority=0;answer;park"),
    ("default", "7303", "answer;park"),
    ("default", "7302", "park"),
)


class Ledger:
    """Routing's events on the bus, per call."""

    def __init__(self) -> None:
        self.by_call: dict[str, list[str]] = collections.defaultdict(list)
        self.ids: set[uuid.UUID] = set()

    async def __call__(self, event: Envelope[EventData]) -> None:
        if event.id in self.ids:
            return
        self.ids.add(event.id)
        if event.call_id is not None:
            self.by_call[event.call_id].append(event.type)

    def count(self, call_id: str, event_type: str) -> int:
        return self.by_call[call_id].count(event_type)


class Switch:
    """The switch under test, restartable: the simulator or a real FreeSWITCH of our own."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.work = work
        self.simulator: Simulator | None = None
        self.real: RealSwitch | None = None
        self.host, self.port, self.password = "127.0.0.1", 0, "ClueCon"

    async def start(self) -> None:
        if self.kind == "sim":
            routes = tuple((c, n, tuple(parse_actions(a))) for c, n, a in ROUTES)
            self.simulator = Simulator(SimConfig(esl_port=0, routes=routes))
            await self.simulator.start()
            self.port = self.simulator.esl_port
            return
        launcher = configured_launcher()
        assert launcher is not None
        overlay = self.work.parent / "overlay"
        dialplan = overlay / "dialplan" / "default"
        dialplan.mkdir(parents=True, exist_ok=True)
        (dialplan / "60_cc_test_late.xml").write_text(LATE_EXTENSION)
        self.real = RealSwitch(launcher, self.work, overlays=[overlay])
        endpoint = await asyncio.to_thread(self.real.start)
        self.port, self.password = endpoint.esl_port, endpoint.password

    async def stop(self) -> None:
        if self.simulator is not None:
            await self.simulator.stop()
            self.simulator = None
        if self.real is not None:
            await asyncio.to_thread(self.real.stop)
            self.real = None


class Callers:
    """Callers placed through the switch (loopback to 7200), on a connection of the test's own."""

    def __init__(self, control: InboundClient) -> None:
        self.control = control
        self.by_tag: dict[str, str] = {}
        self.gone: set[str] = set()

    def record(self, event: EslEvent) -> None:
        tag = event.variable("cc_test_caller")
        if event.name == "CHANNEL_PARK" and tag and event.variable("cc_queue"):
            self.by_tag.setdefault(tag, event.unique_id or "")
        elif event.name == "CHANNEL_HANGUP_COMPLETE" and event.unique_id:
            self.gone.add(event.unique_id)

    async def place(self, tag: str) -> str:
        """A caller dials in and parks for the queue; return their channel's uuid."""
        await self.control.bgapi(f"originate {{cc_test_caller={tag}}}loopback/7200/default &park()")
        await eventually(lambda: tag in self.by_tag, within=15)
        return self.by_tag[tag]

    async def hang_up(self, call_id: str) -> None:
        await self.control.bgapi(f"uuid_kill {call_id}")
        await eventually(lambda: call_id in self.gone, within=15)

    async def channels(self) -> set[str]:
        """Return every channel the switch has now."""
        return {row.uuid for row in await self.control.show_channels()}


@pytest.fixture(params=switch_kinds())
async def switch(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Switch]:
    own = Switch(request.param, tmp_path / "freeswitch")
    await own.start()
    yield own
    await own.stop()


@contextlib.asynccontextmanager
async def routing_through(
    proxy: EslProxy, switch: Switch, pg_url: str, bus: Bus
) -> AsyncIterator[tuple[RoutingService, httpx.AsyncClient]]:
    settings = RoutingSettings(
        tenant=TENANT,
        database_url=pg_url,
        amqp_url=bus._url,  # type: ignore[attr-defined]
        bus_exchange=bus._exchange_name,  # type: ignore[attr-defined]
        esl_port=proxy.port,
        esl_password=switch.password,
        routing_lease=False,
        service_token=TEST_SERVICE_TOKEN,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://routing") as client:
        service: RoutingService = app.state.routing
        await eventually(lambda: service.live.is_set(), within=30)
        yield service, client


async def routed(
    stack: AsyncExitStack, switch: Switch, pg_url: str, bus: Bus
) -> tuple[EslProxy, Callers, RoutingService, httpx.AsyncClient]:
    """Routing behind a proxy the test can cut, and a caller-placing connection of the test's."""
    proxy = EslProxy(switch.host, switch.port)
    await proxy.start()
    stack.push_async_callback(proxy.close)
    control = InboundClient(switch.host, switch.port, switch.password, reconnect=False)
    callers = Callers(control)
    control.on("*", callers.record)
    await control.connect()
    stack.push_async_callback(control.close)
    await control.events("plain", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE")
    service, client = await stack.enter_async_context(routing_through(proxy, switch, pg_url, bus))
    return proxy, callers, service, client


async def configure(client: httpx.AsyncClient, agents: dict[str, str]) -> None:
    queue = {"name": QUEUE, "ring_timeout_seconds": 60, "wrap_up_seconds": 0}
    assert (await client.put(f"/v1/queues/{QUEUE}", json=queue)).status_code == 200
    for agent_id, contact in agents.items():
        body = {"agent_id": agent_id, "contact": contact, "tiers": {QUEUE: {"level": 1}}}
        response = await client.put(f"/v1/agents/{agent_id}", json=body)
        assert response.status_code == 200, response.text


async def login(client: httpx.AsyncClient, agent_id: str) -> None:
    response = await client.post(f"/v1/agents/{agent_id}/login", json={})
    assert response.status_code == 200, response.text


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def wait_ready(
    client: httpx.AsyncClient, expected: bool, within: float = 30
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            response = await client.get("/readyz")
            if (response.status_code == 200) is expected:
                return dict(response.json())
            await asyncio.sleep(0.05)


def agent_call(service: RoutingService, agent_id: str) -> tuple[str, str | None]:
    view = service.runtime.acd.agent_view(agent_id)
    return view.state, view.call_id


async def in_step(service: RoutingService, callers: Callers, agents: list[str]) -> None:
    """Wait until routing holds exactly the switch's callers and agent legs, no more."""
    acd = service.runtime.acd
    problems: list[str] = []

    async def check() -> bool:
        channels = await callers.channels()
        live = {call for call in callers.by_tag.values() if call in channels}
        settled = service.runtime.now() - 3
        problems[:] = [
            *(f"holds ended call {c}" for c in set(acd.active_calls()) - live),
            *(f"misses live caller {c}" for c in live - set(acd.active_calls())),
            *(
                f"{a} on ended call"
                for a in agents
                if (c := agent_call(service, a)[1]) and c not in live
            ),
            *(
                f"{leg.agent_id} has no leg {leg.offer_id}"
                for leg in acd.agent_legs()
                if leg.started_at < settled and leg.offer_id not in channels
            ),
        ]
        return not problems

    try:
        async with asyncio.timeout(30):
            while not await check():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"routing is not where the switch is: {problems}") from None


@pytest.fixture
async def observed(
    make_rabbit_bus: Callable[..., Any], unique_name: Callable[[str], str], rabbit_cleanup: Any
) -> tuple[Bus, Ledger]:
    bus: Bus = await make_rabbit_bus()
    ledger = Ledger()
    queue = rabbit_cleanup.queue(unique_name("ledger"))
    await bus.consume(queue, bindings=[f"{TENANT}.#"], handler=ledger)
    return bus, ledger


async def test_a_lost_link_and_a_switch_restart_leave_routing_where_the_switch_is(
    switch: Switch, pg_url: str, observed: tuple[Bus, Ledger]
) -> None:
    bus, ledger = observed
    async with AsyncExitStack() as stack:
        proxy, callers, service, client = await routed(stack, switch, pg_url, bus)
        agents = {
            "answers": ANSWERS,
            "rings": NEVER_ANSWERS,
            "leaves": ANSWERS,
            "rejects": NEVER_ANSWERS,
            "late": ANSWERS_LATE,
        }
        await configure(client, agents)

        async def offered_alone(agent_id: str, tag: str, state: str | None = None) -> str:
            """Log one agent in and give them a new caller of their own."""
            await login(client, agent_id)
            call = await callers.place(tag)
            await eventually(lambda: agent_call(service, agent_id)[1] == call, within=20)
            if state is not None:
                await eventually(lambda: agent_call(service, agent_id)[0] == state, within=20)
            return call

        def leg_of(call_id: str) -> str:
            [leg] = [g.offer_id for g in service.runtime.acd.agent_legs() if g.call_id == call_id]
            return leg

        bridged = await offered_alone("answers", "bridged", "on_call")
        talking = await offered_alone("leaves", "talking", "on_call")
        ringing = await offered_alone("rings", "ringing")
        unanswered = await offered_alone("rejects", "unanswered")
        queued = await callers.place("queued")
        await eventually(lambda: service.runtime.acd.holds_call(queued), within=20)
        await asyncio.sleep(LEG_GRACE_SECONDS)  # every leg is old enough to be judged
        talking_leg, unanswered_leg = leg_of(talking), leg_of(unanswered)
        assert await ready(client)
        await login(client, "late")  # rung for the queued caller; picks up during the outage
        await eventually(lambda: agent_call(service, "late")[1] == queued, within=20)
        late_leg = leg_of(queued)

        # The link goes down. Meanwhile: two callers hang up (one talking, one ringing), an
        # agent leaves a conversation, a ringing phone gives up, and a new caller parks.
        proxy.cut()
        body = await wait_ready(client, expected=False)
        assert "FreeSWITCH" in body["checks"]["freeswitch"]
        await callers.hang_up(bridged)
        await callers.hang_up(ringing)
        await callers.hang_up(talking_leg)
        await callers.hang_up(unanswered_leg)

        async def picked_up() -> bool:
            rows = await callers.control.show_channels()
            return any(r.uuid == late_leg and r.callstate == "ACTIVE" for r in rows)

        async with asyncio.timeout(15):
            while not await picked_up():
                await asyncio.sleep(0.1)
        newcomer = await callers.place("newcomer")
        await asyncio.sleep(1.0)
        assert not await ready(client)
        proxy.refusing = False
        await wait_ready(client, expected=True)
        assert service.resyncs == 1
        await in_step(service, callers, list(agents))
        for call in (bridged, ringing, talking):
            await _ended_once(ledger, call)
        assert service.runtime.acd.holds_call(newcomer)
        assert service.runtime.acd.holds_call(unanswered)  # its caller still waits
        assert agent_call(service, "rings")[1] != ringing  # the ring was let go
        assert agent_call(service, "leaves")[1] != talking
        assert agent_call(service, "rejects")[0] != "not_ready"  # a lost ring is no miss
        # The agent who picked up while the link was down is put through to their caller.
        await eventually(lambda: agent_call(service, "late") == ("on_call", queued), within=15)
        await eventually(lambda: ledger.count(queued, "call.answered") == 1, within=15)

        # The switch dies and comes back: every call is gone.
        await switch.stop()
        body = await wait_ready(client, expected=False)
        await switch.start()
        control2 = InboundClient(switch.host, switch.port, switch.password, reconnect=False)
        await control2.connect()
        stack.push_async_callback(control2.close)
        callers.control = control2
        proxy.target = (switch.host, switch.port)
        await wait_ready(client, expected=True, within=60)
        await in_step(service, callers, list(agents))
        assert service.runtime.acd.active_calls() == []
        for call in callers.by_tag.values():
            await _ended_once(ledger, call)
        for agent_id in agents:
            assert agent_call(service, agent_id)[1] is None
        # Nothing offered twice, whatever happened.
        for call in callers.by_tag.values():
            assert ledger.count(call, "call.offered") <= 1, ledger.by_call[call]


async def _ended_once(ledger: Ledger, call_id: str) -> bool:
    await eventually(lambda: ledger.count(call_id, "call.ended") >= 1, within=15)
    await asyncio.sleep(0.2)
    assert ledger.count(call_id, "call.ended") == 1, ledger.by_call[call_id]
    return True


async def test_a_refused_password_is_logged_retried_and_named_by_readiness(
    pg_url: str, observed: tuple[Bus, Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    bus, _ = observed
    async with AsyncExitStack() as stack:
        right = await stack.enter_async_context(Simulator(SimConfig(esl_port=0)))
        wrong = await stack.enter_async_context(
            Simulator(SimConfig(esl_port=0, esl_password="not-ours"))
        )
        proxy = EslProxy("127.0.0.1", wrong.esl_port)
        await proxy.start()
        stack.push_async_callback(proxy.close)
        switch = Switch("sim", Path())
        settings = RoutingSettings(
            tenant=TENANT,
            database_url=pg_url,
            amqp_url=bus._url,  # type: ignore[attr-defined]
            bus_exchange=bus._exchange_name,  # type: ignore[attr-defined]
            esl_port=proxy.port,
            esl_password=switch.password,
            routing_lease=False,
            service_token=TEST_SERVICE_TOKEN,
        )
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing")
        )

        def refusals() -> int:
            return sum(
                r.getMessage() == "routing.freeswitch_password_refused" for r in caplog.records
            )

        # At start: refused, said so, retried with growing pauses.
        await eventually(lambda: refusals() >= 3, within=45)  # slow on a loaded machine
        times = [r.created for r in caplog.records if r.getMessage().endswith("password_refused")]
        assert times[2] - times[1] > times[1] - times[0]  # backing off
        body = await wait_ready(client, expected=False)
        assert "refused the ESL password" in body["checks"]["freeswitch"]
        assert "CC_ESL_PASSWORD" in body["checks"]["freeswitch"]
        # The right switch answers: routing starts.
        proxy.target = ("127.0.0.1", right.esl_port)
        await wait_ready(client, expected=True, within=30)

        # Later the link drops and the switch behind it refuses us: readiness names that too.
        proxy.target = ("127.0.0.1", wrong.esl_port)
        proxy.cut(refuse=False)
        body = await wait_ready(client, expected=False)
        await eventually(
            lambda: "refused the ESL password" in (app.state.routing.freeswitch_problem() or ""),
            within=15,
        )
        proxy.target = ("127.0.0.1", right.esl_port)
        await wait_ready(client, expected=True, within=60)
        assert app.state.routing.resyncs == 1
