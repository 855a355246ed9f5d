"""How long ``show channels`` lags behind a channel's life on the switch (issue 8).

FreeSWITCH answers ``show channels`` from its core database, which a background thread writes
a moment after a channel is created or gone; ``uuid_exists`` and ``uuid_dump`` read the live
session. This originates a loopback leg (``loopback/7303/default &park()``) with a known UUID,
polls ``uuid_exists`` and ``show channels as json`` on one connection while another receives
the events, and measures from CHANNEL_CREATE (and from the first ``uuid_exists`` true) until
the listing has the leg; then kills it and measures from CHANNEL_HANGUP_COMPLETE until the
listing drops it. Runs on the simulator, and on the real FreeSWITCH when ``CC_TEST_FREESWITCH``
names the fs-test-switch launcher. Prints p50/max JSON lines per switch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import eventually
from cc_sim import SimConfig, Simulator
from cc_sim.switches import RealSwitch, configured_launcher


@contextlib.asynccontextmanager
async def esl_port(kind: str) -> AsyncIterator[int]:
    """Start the named switch on loopback; yield its event-socket port."""
    if kind == "sim":
        async with Simulator(SimConfig(esl_port=0)) as sim:
            yield sim.esl_port
        return
    launcher = configured_launcher()
    assert launcher is not None
    with tempfile.TemporaryDirectory(prefix="cc-lag-") as work:
        real = RealSwitch(launcher, Path(work) / "fs")
        endpoint = real.start()
        try:
            yield endpoint.esl_port
        finally:
            real.stop()


class Seen:
    """When (monotonic seconds) each channel's CHANNEL_CREATE and HANGUP_COMPLETE arrived."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, str], float] = {}

    def __call__(self, event: EslEvent) -> None:
        self.at.setdefault((event.name, event.unique_id or ""), time.monotonic())

    async def when(self, name: str, leg: str) -> float:
        """Wait until the event arrived (it may trail the listing's answers); return when."""
        await eventually(lambda: (name, leg) in self.at, within=5, poll=0.001)
        return self.at[(name, leg)]


async def listed(poll: InboundClient, leg: str) -> bool:
    """Return whether ``show channels as json`` lists the leg right now."""
    return any(row.uuid == leg for row in await poll.show_channels())


async def one_leg(events: InboundClient, poll: InboundClient, seen: Seen) -> dict[str, float]:
    """Originate one leg, then kill it; return the listing's lags in milliseconds."""
    leg = str(uuid.uuid4())
    await events.bgapi(f"originate {{origination_uuid={leg}}}loopback/7303/default &park()")
    exists_at = listed_at = None
    deadline = time.monotonic() + 5
    while listed_at is None and time.monotonic() < deadline:
        if exists_at is None and (await poll.api(f"uuid_exists {leg}")).text.strip() == "true":
            exists_at = time.monotonic()
        if await listed(poll, leg):
            listed_at = time.monotonic()
            exists_at = exists_at or listed_at  # created between the two polls
    if listed_at is None or exists_at is None:
        raise RuntimeError(f"leg {leg} never listed")
    created_at = await seen.when("CHANNEL_CREATE", leg)
    await asyncio.sleep(random.uniform(0.2, 0.4))  # no fixed phase against the writer
    await poll.api(f"uuid_kill {leg}")
    while await listed(poll, leg):
        pass
    gone_at = time.monotonic()
    ended_at = await seen.when("CHANNEL_HANGUP_COMPLETE", leg)
    return {
        "create": (listed_at - created_at) * 1000,
        "exists": (listed_at - exists_at) * 1000,
        "hangup": (gone_at - ended_at) * 1000,
    }


async def measure(kind: str, legs: int) -> None:
    """Measure ``legs`` originates on one switch; print p50 and max per figure."""
    async with esl_port(kind) as port:
        seen = Seen()
        events = InboundClient("127.0.0.1", port, "ClueCon", name="lag-events")
        poll = InboundClient("127.0.0.1", port, "ClueCon", name="lag-poll")
        events.on("*", seen)
        await events.connect()
        await poll.connect()
        await events.events("plain", "CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB")
        figures = [await one_leg(events, poll, seen) for _ in range(legs)]
        await events.close()
        await poll.close()
    for name in ("create", "exists", "hangup"):
        values = [figure[name] for figure in figures]
        for stat, value in (("p50", statistics.median(values)), ("max", max(values))):
            print(json.dumps({
                "bench": f"switch_listing_lag_{kind}_{name}_{stat}",
                "value": round(value, 2),
                "unit": "ms",
            }))  # fmt: skip
        print(f"{kind} {name}: {[round(v, 1) for v in values]}", file=sys.stderr)


def main() -> None:
    """Measure on the simulator, and on the real switch when one is configured."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--legs", type=int, default=20)
    args = parser.parse_args()
    kinds = ["sim"] + (["real"] if configured_launcher() is not None else [])
    for kind in kinds:
        asyncio.run(measure(kind, args.legs))


if __name__ == "__main__":
    main()
