"""Routing and metrics against a switch, counted by the switch itself, across two restarts.

Two agents (7301: answers after 1 s; 7302: never answers), reached as loopback legs or as SIP
calls, 50 callers parked for queue ``support`` (7200) about 0.5 s apart, a quarter of them
hanging up after 1.5 s, the others talking 0.5 s once bridged or giving up after 12 s.
Routing is stopped cleanly once and crash-like once while callers keep coming. The metrics
service's offered, answered and abandoned equal what the switch saw: callers parked, callers
bridged to an agent leg (its own CHANNEL_BRIDGE events), the rest. No agent rings or talks
twice at once, no caller is bridged twice, no agent-leg uuid is used twice. Runs on the
simulator and on the real FreeSWITCH.
"""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from cc_common.esl import InboundClient
from cc_common.testing import eventually
from cc_metrics.testing import report_facts, report_hour
from cc_routing.settings import RoutingSettings
from cc_routing.testing import (
    AGENT_AFTER_1S,
    AGENT_NEVER,
    QUEUE,
    Published,
    Routing,
    SwitchLog,
    call_in,
    configure,
    routing,
    watch,
)
from cc_sim.switches import SwitchUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALLERS = 50
GAP = 0.5
EARLY_HANGUP = 1.5
TALK = 0.5
PATIENCE = 12.0
CLEAN_STOP_AT = 17
CRASH_AT = 34


def hangs_up_early(index: int) -> bool:
    """A quarter of the callers give up after 1.5 s; none right around a restart, so every
    caller lives while some routing instance listens (one that came and went unseen would be
    nobody's to count)."""
    near_restart = any(abs(index - at) <= 4 for at in (CLEAN_STOP_AT, CRASH_AT))
    return index % 4 == 1 and not near_restart


async def caller(client: InboundClient, seen: SwitchLog, index: int) -> None:
    """One caller: park for the queue, then hang up early, after talking, or out of patience."""
    leg = await call_in(client, number=f"49301{index:05d}")
    async with asyncio.timeout(10):
        while (me := next((c for c, o in seen.origin.items() if o == leg), None)) is None:
            await asyncio.sleep(0.02)
    if hangs_up_early(index):
        await asyncio.sleep(EARLY_HANGUP)
    else:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + PATIENCE
        while me not in seen.bridged_callers() and loop.time() < give_up and me not in seen.hung_up:
            await asyncio.sleep(0.05)
        if me in seen.bridged_callers():
            await asyncio.sleep(TALK)
    await client.bgapi(f"uuid_kill {leg}")


SIM_SIP_SELF = "127.0.0.1:5080"
"""The simulator's own external SIP profile (a SIP call there loops back into its dialplan)."""


def agent_phones(switch: SwitchUnderTest, phones: str) -> dict[str, str]:
    """The two agents' contacts: loopback legs, or SIP calls to the switch's own external
    profile (a SIP leg ends in a phone; it has no far half carrying routing's variables)."""
    if phones == "loopback":
        return {"fast": AGENT_AFTER_1S, "never": AGENT_NEVER}
    port = switch.endpoint.sip_ext_port
    host = SIM_SIP_SELF if port is None else f"127.0.0.1:{port}"
    return {"fast": f"sofia/internal/7301@{host}", "never": f"sofia/internal/7302@{host}"}


@pytest.mark.parametrize("phones", ["loopback", "sip"])
async def test_metrics_count_what_the_switch_saw_across_a_clean_stop_and_a_crash(
    phones: str,
    routed_switch: tuple[SwitchUnderTest, RoutingSettings, Published],
    metrics_api: httpx.AsyncClient,
) -> None:
    switch, settings, published = routed_switch
    started = report_hour()
    metrics = metrics_api
    async with watch(switch.endpoint) as (client, seen):
        callers: list[asyncio.Task[None]] = []
        instance: Routing

        async def place(first: int, last: int) -> None:
            for index in range(first, last):
                callers.append(asyncio.create_task(caller(client, seen, index)))
                await asyncio.sleep(GAP)

        async with routing(settings) as instance:
            await configure(instance.api, agent_phones(switch, phones), ring_timeout=4)
            await place(0, CLEAN_STOP_AT)
        await place(CLEAN_STOP_AT, CLEAN_STOP_AT + 2)  # routing is down: they wait parked
        async with routing(settings) as instance:
            await place(CLEAN_STOP_AT + 2, CRASH_AT)
            instance.crash()
        await place(CRASH_AT, CRASH_AT + 2)
        async with routing(settings) as instance:
            await place(CRASH_AT + 2, CALLERS)
            await asyncio.gather(*callers)
            await eventually(lambda: all(c in seen.hung_up for c in seen.callers), within=20)
            await eventually(lambda: len(published.of("call.ended")) >= CALLERS, within=30)
            await asyncio.sleep(1.0)  # the agent legs' last hangups
            assert list(instance.service.runtime.recent_problems) == []

        bridges = collections.Counter(seen.bridged_callers())
        answered, parked = len(bridges), len(seen.callers)
        expected = {"offered": parked, "answered": answered, "abandoned": parked - answered}

        async def counted() -> dict[str, float]:
            facts = (await report_facts(metrics, "queues", started, queue=QUEUE)).get(QUEUE, {})
            return {key: facts.get(key, 0.0) for key in expected}

        deadline = asyncio.get_running_loop().time() + 30
        while (facts := await counted()) != expected:  # on timeout, the assert shows the gap
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)

    assert parked == CALLERS
    assert facts == expected
    assert 0 < answered < CALLERS
    assert max(bridges.values()) == 1  # no caller bridged twice
    assert seen.overlapping_legs(answered=True) == []  # no agent talked twice at once
    # ... nor rang twice: a leg began only once the agent's previous one was gone (a cancel
    # and the next ring leave in the same step, so its hangup may complete just after).
    assert seen.overlapping_legs(answered=False) == []
    offered = [e.data.agent_leg_uuid for e in published.of("call.agent_offered")]  # type: ignore[attr-defined]
    assert len(offered) == len(set(offered))  # every agent leg a new uuid, across instances
    assert {e.call_id for e in published.of("call.answered")} == set(bridges)
    assert sorted(published.by_call) == sorted(seen.callers)
    for call_id in seen.callers:
        assert published.by_call[call_id].count("call.ended") == 1, published.by_call[call_id]
