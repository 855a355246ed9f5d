"""An in-process switch on a manual clock, for deterministic tests (no sockets, no real time).

bench = SwitchBench()
reply = bench.api("originate", "{origination_uuid=c1}loopback/7100/default &park()")
bench.advance(1)
assert bench.names("c1")[-1] == "CHANNEL_STATE"
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cc_sim.clock import ManualScheduler
from cc_sim.core.dialplan import Dialplan, default_dialplan
from cc_sim.core.events import HostInfo, SimEvent
from cc_sim.engine.endpoints import Directory
from cc_sim.engine.switch import Switch, SwitchSettings
from cc_sim.people import Callers


@dataclass
class SwitchBench:
    """A switch, its manual scheduler, a directory and every event it fired."""

    dialplan: Dialplan = field(default_factory=default_dialplan)
    seed: int = 1
    scheduler: ManualScheduler = field(default_factory=ManualScheduler)
    events: list[SimEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.switch = Switch(
            scheduler=self.scheduler,
            dialplan=self.dialplan,
            host=HostInfo(core_uuid="00000000-0000-4000-8000-000000000000"),
            settings=SwitchSettings(),
        )
        self.directory = Directory(rng=random.Random(self.seed))
        self.switch.directory = self.directory
        self.switch.sinks.append(self.events.append)
        self.callers = Callers(self.switch)

    def api(self, command: str, argument: str | None = None) -> list[str]:
        """Run an API command; return the list its reply lands in (filled now or later)."""
        replies: list[str] = []
        self.switch.api.execute(command, argument, replies.append)
        self.scheduler.run_until_idle()
        return replies

    def advance(self, seconds: float) -> None:
        """Let simulated time pass, running every timer that falls due."""
        self.scheduler.advance(seconds)

    def settle(self) -> None:
        """Run everything due now."""
        self.scheduler.run_until_idle()

    def of(self, uuid: str) -> list[SimEvent]:
        """Return the events of one channel, in order."""
        return [e for e in self.events if e.unique_id == uuid]

    def names(self, uuid: str) -> list[str]:
        """Return the event names of one channel, in order."""
        return [e.name for e in self.of(uuid)]

    def named(self, name: str) -> list[SimEvent]:
        """Return every event called ``name``."""
        return [e for e in self.events if e.name == name]

    def first(self, name: str, predicate: Callable[[SimEvent], bool] | None = None) -> SimEvent:
        """Return the first event called ``name`` (matching ``predicate``)."""
        for event in self.events:
            if event.name == name and (predicate is None or predicate(event)):
                return event
        raise AssertionError(f"no {name} event")

    def channel_named(self, suffix: str) -> str:
        """Return the uuid of the (latest) channel whose name ends with ``suffix``."""
        found = [s.uuid for s in self.switch.sessions.values() if s.channel.name.endswith(suffix)]
        if not found:
            raise AssertionError(f"no live channel named *{suffix}")
        return found[-1]
