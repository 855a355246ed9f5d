"""The dialer on a switch: a campaign dials its list, answered customers reach the agent,
do-not-call numbers are never dialled, outcomes follow the switch (simulator and real).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import time
from typing import Any

import pytest

from cc_common.db import Database
from cc_common.db.migrations import upgrade
from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import eventually
from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.facts import CAMPAIGN_FACT_NAMES, Facts, add_facts
from cc_metrics.core.kpis import Scope, compute_all
from cc_metrics.core.thresholds import Thresholds
from cc_proto import Envelope, EventData
from cc_proto.events import DialerAttempted, DialerConnected, DialerDropped, DialerMachineDetected
from cc_routing.dialer.calls import LegState, customer_leg
from cc_routing.dialer.campaigns import CallingWindow, CampaignConfig, Outcome, RetryRule
from cc_routing.dialer_runtime import DialerRuntime, Publisher, bus_publisher
from cc_routing.dialer_store import DialerStore, ListSettings
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.simulator import Simulator
from cc_sim.switches import RealSwitch, switch_kinds

pytestmark = pytest.mark.integration

# The real test switch's extensions (tests/fs-overlay adds 7321, 7322 and 7331), mirrored in the
# simulator: 7301 answers after 1 s and parks, 7302 never answers, 7303 (the agent) answers at
# once, 7321 and 7322 answer after ringing 2 s and 4 s, 7331 is busy, 7341 is an answering
# machine (a greeting, then a 1 kHz beep), 7342 a live person (the greeting, no beep).
GREETING = "playback:silence_stream://500;playback:prompts/welcome.wav@1s.wav"
BEEP = "playback:tone_stream://%(1000,0,1000)"
SIM_ROUTES = (
    ("default", "7301", tuple(parse_actions("sleep:1000;answer;park"))),
    ("default", "7302", tuple(parse_actions("park"))),
    ("default", "7303", tuple(parse_actions("answer;park"))),
    ("default", "7321", tuple(parse_actions("ring_ready;sleep:2000;answer;park"))),
    ("default", "7322", tuple(parse_actions("ring_ready;sleep:4000;answer;park"))),
    ("default", "7331", tuple(parse_actions("hangup:USER_BUSY"))),
    ("default", "7341", tuple(parse_actions(f"answer;{GREETING};{BEEP};park"))),
    ("default", "7342", tuple(parse_actions(f"answer;{GREETING};park"))),
)
ANSWERS, NEVER, BUSY, BLOCKED = "+33142687301", "+33142687302", "+33142687331", "+33142687399"
LATER, LATEST = "+33142687321", "+33142687322"
MACHINE, PERSON = "+33142687341", "+33142687342"


def dial_string(number: str) -> str:
    return f"loopback/{number[-4:]}/default"


@asynccontextmanager
async def esl_client(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[InboundClient]:
    if kind == "sim":
        async with (
            Simulator(SimConfig(esl_port=0, routes=SIM_ROUTES)) as sim,
            InboundClient("127.0.0.1", sim.esl_port, "ClueCon") as client,
        ):
            yield client
        return
    real: RealSwitch = request.getfixturevalue("real_switch")
    assert real.endpoint is not None
    endpoint = real.endpoint
    try:
        async with InboundClient(endpoint.host, endpoint.esl_port, endpoint.password) as client:
            yield client
    finally:
        real.cli("hupall NORMAL_CLEARING")


async def campaign_with(
    pg_url: str, numbers: list[str], **settings: Any
) -> tuple[Database, DialerStore]:
    """A running progressive campaign with one agent and these numbers on its list."""
    db = Database(pg_url, schemas=["routing"])
    await upgrade(db, "cc_routing")
    store = DialerStore(db, "t")
    await store.put_campaign(
        CampaignConfig(
            name="renewals",
            mode="progressive",
            agents=["a1"],
            caller_id="+33100000000",
            calling_window=CallingWindow(start=time(0), end=time(23, 59, 59)),
            retries={
                Outcome.BUSY: RetryRule(delay_seconds=3600, max_attempts=3),
                Outcome.NO_ANSWER: RetryRule(delay_seconds=3600, max_attempts=3),
                Outcome.MACHINE: RetryRule(delay_seconds=7200, max_attempts=2),
            },
            **settings,
        )
    )
    await store.put_list(ListSettings("l1", "renewals", "FR"))

    async def body() -> AsyncIterator[bytes]:
        yield ("phone\n" + "\n".join(numbers) + "\n").encode()

    await store.run_import(await store.upload("l1", body()))
    await store.add_do_not_call([BLOCKED], "FR", "test")
    await store.change_campaign("renewals", "start")
    return db, store


@pytest.mark.parametrize("kind", switch_kinds())
async def test_a_campaign_dials_its_list_on_the_switch(
    kind: str,
    request: pytest.FixtureRequest,
    pg_url: str,
    make_rabbit_bus: Any,
    unique_name: Callable[[str], str],
) -> None:
    """Events travel over the real RabbitMQ here, as the metrics service would hear them."""
    numbers = [ANSWERS, NEVER, BLOCKED, BUSY]
    db, store = await campaign_with(pg_url, numbers)
    published: list[EventData] = []
    bus = await make_rabbit_bus()

    async def heard(event: Envelope[EventData]) -> None:
        published.append(event.data)

    await bus.consume(unique_name("dialer-events"), bindings=["#"], handler=heard)
    publish = bus_publisher(bus, "t")

    async with esl_client(kind, request) as client:
        runtime = DialerRuntime(
            store,
            "renewals",
            {"a1": "loopback/7303/default"},
            dial_string=dial_string,
            publish=publish,
            ring_timeout_seconds=3,
        )
        await runtime.start(client)
        try:
            connected = await _connected(runtime, published)
            if connected is not None:  # the customer hangs up
                await client.bgapi(f"uuid_kill {connected} NORMAL_CLEARING")
            expected = {ANSWERS: Outcome.CONNECTED, NEVER: Outcome.NO_ANSWER, BUSY: Outcome.BUSY}
            await eventually(lambda: len(runtime.settled) >= len(expected), within=60, poll=0.2)
            attempts = len(expected)
            await eventually(
                lambda: sum(isinstance(d, DialerAttempted) for d in published) >= attempts,
                within=20,
            )
        finally:
            await runtime.stop()
    dialled = [d.number for d in published if isinstance(d, DialerAttempted)]
    assert BLOCKED not in dialled
    assert sorted(set(dialled)) == sorted(expected)
    by_number = {await _number(store, s.lead_id): s.outcome for s in runtime.settled}
    assert by_number == expected
    joined = [d for d in published if isinstance(d, DialerConnected)]
    assert len(joined) == 1
    assert joined[0].wait_seconds <= 2.0
    counts = await store.lead_counts("l1")
    assert counts["done"] == 1
    blocked = [s for s in runtime.settled if await _number(store, s.lead_id) == BLOCKED]
    assert blocked == []
    await db.dispose()


async def _connected(runtime: DialerRuntime, published: list[EventData]) -> str | None:
    """Wait for the customer to reach the agent; their leg, if the call is still up."""
    await eventually(
        lambda: any(isinstance(d, DialerConnected) for d in published), within=60, poll=0.2
    )
    assert runtime.floor is not None
    live = [leg for leg, c in runtime.floor.legs.items() if c.state is LegState.CONNECTED]
    return live[0] if live else None


async def _number(store: DialerStore, lead_id: str) -> Any:
    return (await store.lead(lead_id))["number"]


@pytest.mark.parametrize("kind", switch_kinds())
async def test_no_agent_within_two_seconds_is_an_abandoned_call(
    kind: str, request: pytest.FixtureRequest, pg_url: str
) -> None:
    db, store = await campaign_with(pg_url, [ANSWERS])
    published: list[EventData] = []

    async def publish(data: EventData, at: float) -> None:
        published.append(data)

    async with esl_client(kind, request) as client:
        runtime = DialerRuntime(
            store,
            "renewals",
            {"a1": "loopback/7302/default"},  # the agent's phone never answers
            dial_string=dial_string,
            publish=publish,
        )
        await runtime.start(client)
        try:
            await eventually(lambda: len(runtime.settled) == 1, within=60, poll=0.2)
        finally:
            await runtime.stop()
    (settled,) = runtime.settled
    assert settled.outcome is Outcome.ABANDONED
    assert settled.live
    (dropped,) = [d for d in published if isinstance(d, DialerDropped)]
    assert 2.0 <= dropped.wait_seconds < 4.0
    assert not any(isinstance(d, DialerConnected) for d in published)
    assert runtime.pacer is not None
    assert runtime.pacer.window_abandon_rate() == 1.0
    lead = await store.lead(settled.lead_id)
    assert (lead["status"], lead["last_outcome"]) == ("ready", "abandoned")  # tried again later
    await db.dispose()


@pytest.mark.parametrize("kind", switch_kinds())
async def test_customers_who_answer_after_different_rings_all_reach_the_agents(
    kind: str, request: pytest.FixtureRequest, pg_url: str
) -> None:
    db, store = await campaign_with(pg_url, [ANSWERS, LATER, LATEST])
    published: list[EventData] = []

    async def publish(data: EventData, at: float) -> None:
        published.append(data)

    agents = {"a1": "loopback/7303/default", "a2": "loopback/7303/default"}
    async with esl_client(kind, request) as client:
        runtime = DialerRuntime(store, "renewals", agents, dial_string=dial_string, publish=publish)
        await runtime.start(client)
        hanging_up = asyncio.create_task(_customers_hang_up(runtime, client))
        try:
            await eventually(lambda: len(runtime.settled) == 3, within=60, poll=0.2)
        finally:
            hanging_up.cancel()
            await runtime.stop()
    assert {s.outcome for s in runtime.settled} == {Outcome.CONNECTED}
    rings = sorted(s.ring_seconds for s in runtime.settled)
    assert rings[0] >= 0.5
    assert rings[-1] >= 3.5  # the one that rang 4 s
    joined = [d for d in published if isinstance(d, DialerConnected)]
    assert len(joined) == 3
    assert all(d.wait_seconds <= 2.0 for d in joined)
    assert (await store.lead_counts("l1")) == {"done": 3}
    await db.dispose()


async def _customers_hang_up(runtime: DialerRuntime, client: InboundClient) -> None:
    """Each connected customer talks briefly, then hangs up."""
    while True:
        await asyncio.sleep(0.5)
        if runtime.floor is None:
            continue
        for leg, call in list(runtime.floor.legs.items()):
            if call.state is LegState.CONNECTED:
                await client.bgapi(f"uuid_kill {leg} NORMAL_CLEARING")


@asynccontextmanager
async def machine_detecting(
    kind: str,
    request: pytest.FixtureRequest,
    pg_url: str,
    number: str,
    also: Publisher | None = None,
    agent: str = "loopback/7303/default",
    **settings: Any,
) -> AsyncIterator[tuple[DialerStore, DialerRuntime, list[EventData], InboundClient]]:
    """A campaign with answering-machine detection on, one agent (7303, answering at once),
    dialling ``number``; its events are kept (and published by ``also`` too)."""
    db, store = await campaign_with(pg_url, [number], detect_machines=True, **settings)
    published: list[EventData] = []

    async def publish(data: EventData, at: float) -> None:
        published.append(data)
        if also is not None:
            await also(data, at)

    async with esl_client(kind, request) as client:
        runtime = DialerRuntime(
            store,
            "renewals",
            {"a1": agent},
            dial_string=dial_string,
            publish=publish,
        )
        await runtime.start(client)
        try:
            yield store, runtime, published, client
        finally:
            await runtime.stop()
            await db.dispose()


@pytest.mark.parametrize("kind", switch_kinds())
async def test_an_answering_machine_is_taken_from_the_agent_and_hung_up(
    kind: str,
    request: pytest.FixtureRequest,
    pg_url: str,
    make_rabbit_bus: Any,
    unique_name: Callable[[str], str],
) -> None:
    """mod_avmd hears the beep after the greeting: the machine was bridged to the agent at once
    (2-second rule); the beep takes it back: hung up, outcome machine, retried by its rule, the
    agent free again and nobody counted abandoned. Over the real RabbitMQ,
    ``dialer.machine_detected`` says the ``dialer.connected`` already out was a machine, and the
    metrics engine fed what was heard counts a machine answer, no live one."""
    bus = await make_rabbit_bus()
    heard: list[Envelope[EventData]] = []

    async def hear(event: Envelope[EventData]) -> None:
        heard.append(event)

    await bus.consume(unique_name("dialer-events"), bindings=["#"], handler=hear)
    async with machine_detecting(kind, request, pg_url, MACHINE, also=bus_publisher(bus, "t")) as (
        store,
        runtime,
        published,
        _,
    ):
        await eventually(lambda: len(runtime.settled) == 1, within=30, poll=0.2)
        floor = runtime.floor
        assert floor is not None
        await eventually(lambda: list(floor.ready) == ["a1"], within=10, poll=0.2)
        (settled,) = runtime.settled
        assert settled.outcome is Outcome.MACHINE
        assert not settled.live
        assert not runtime.held_agents()
        assert not any(isinstance(d, DialerDropped) for d in published)
        assert len([d for d in published if isinstance(d, DialerConnected)]) == 1  # before it
        lead = await store.lead(settled.lead_id)
        assert lead["status"] == "ready"  # tried again later (machine: 2 attempts)
        assert lead["last_outcome"] == Outcome.MACHINE
        await eventually(lambda: len(heard) == 3, within=10, poll=0.1)
    _check_machine_events(heard, settled.lead_id)


def _check_machine_events(heard: list[Envelope[EventData]], lead_id: str) -> None:
    """The beep's event names the attempt, its leg and the dialer.connected it corrects; the
    metrics count the answer a machine (connect rate 0, machine answer rate 1)."""
    attempted, connected, machine = sorted(heard, key=lambda e: e.occurred_at)
    assert isinstance(attempted.data, DialerAttempted)
    assert isinstance(connected.data, DialerConnected)
    assert connected.data.attempt == 1
    assert machine.data == DialerMachineDetected(
        campaign="renewals",
        lead_id=lead_id,
        attempt=1,
        leg=customer_leg(lead_id, 1),
        after_bridge=True,
        connected_at=connected.occurred_at,
        connected_wait_seconds=connected.data.wait_seconds,
    )
    assert machine.occurred_at > connected.occurred_at  # the beep after the greeting
    engine = MetricsEngine(tenant="t", thresholds=Thresholds())
    facts: Facts = dict.fromkeys(CAMPAIGN_FACT_NAMES, 0.0)
    for event in heard:
        for counted in engine.apply(event).campaign_facts.values():
            add_facts(facts, counted)
    kpis = compute_all(facts, Thresholds(), Scope.CAMPAIGN)
    assert kpis["connect_rate"].value == 0
    assert kpis["machine_answer_rate"].value == 1
    assert kpis["outbound_abandon_rate"].no_data  # no live answer at all


@pytest.mark.parametrize("kind", switch_kinds())
async def test_a_beep_before_any_agent_is_bridged_is_a_machine_answer_not_an_abandon(
    kind: str, request: pytest.FixtureRequest, pg_url: str
) -> None:
    """The agent's phone never answers (7302), so nobody is bridged when the beep comes, 1.65 s
    into the answer (within the 2-second grace): the answer's only event is
    ``dialer.machine_detected`` without after_bridge; no connect, no drop."""
    async with machine_detecting(kind, request, pg_url, MACHINE, agent="loopback/7302/default") as (
        _,
        runtime,
        published,
        _client,
    ):
        await eventually(lambda: len(runtime.settled) == 1, within=30, poll=0.2)
    (settled,) = runtime.settled
    assert settled.outcome is Outcome.MACHINE
    answers = [d for d in published if not isinstance(d, DialerAttempted)]
    assert answers == [
        DialerMachineDetected(
            campaign="renewals",
            lead_id=settled.lead_id,
            attempt=1,
            leg=customer_leg(settled.lead_id, 1),
            after_bridge=False,
        )
    ]


@pytest.mark.parametrize("kind", switch_kinds())
async def test_an_answering_machine_is_left_the_campaigns_message(
    kind: str, request: pytest.FixtureRequest, pg_url: str
) -> None:
    """With ``machine_action: message`` the beep takes the machine back from the agent (whose
    leg ends) and the machine hears the message; its end settles the attempt as machine."""
    message = "prompts/goodbye.wav"
    async with machine_detecting(
        kind, request, pg_url, MACHINE, machine_action="message", machine_message=message
    ) as (_, runtime, _published, client):
        played: list[str | None] = []

        async def playback(event: EslEvent) -> None:
            if (event.get("Playback-File-Path") or "").endswith(message):  # the real one is
                played.append(event.unique_id)  # under the sounds directory

        client.on("PLAYBACK_START", playback)
        await client.events("plain", "PLAYBACK_START")
        floor = runtime.floor
        assert floor is not None
        await eventually(
            lambda: any(c.state is LegState.MACHINE for c in floor.legs.values()), within=30
        )
        (leg,) = floor.legs
        await eventually(lambda: leg in played, within=10, poll=0.1)
        await eventually(lambda: list(floor.ready) == ["a1"], within=10, poll=0.2)
        assert not runtime.held_agents()  # the agent's leg is gone, the machine's is not
        assert leg in floor.legs
        await client.bgapi(f"uuid_kill {leg} NORMAL_CLEARING")
        await eventually(lambda: len(runtime.settled) == 1, within=20, poll=0.2)
        (settled,) = runtime.settled
        assert settled.outcome is Outcome.MACHINE


@pytest.mark.parametrize("kind", switch_kinds())
async def test_a_live_person_stays_with_the_agent_with_machine_detection_on(
    kind: str, request: pytest.FixtureRequest, pg_url: str
) -> None:
    """The same greeting without a beep: mod_avmd never fires, the call stays connected."""
    async with machine_detecting(kind, request, pg_url, PERSON) as (_, runtime, published, client):
        connected = await _connected(runtime, published)
        assert connected is not None
        await asyncio.sleep(3)  # the greeting (1.5 s) is over: a beep would have come
        assert runtime.floor is not None
        assert runtime.floor.legs[connected].state is LegState.CONNECTED
        await client.bgapi(f"uuid_kill {connected} NORMAL_CLEARING")
        await eventually(lambda: len(runtime.settled) == 1, within=20, poll=0.2)
        (settled,) = runtime.settled
        assert settled.outcome is Outcome.CONNECTED
