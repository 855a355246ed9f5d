"""Helpers for tests that drive the core (here and in the adapters' tests): build, filter, read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from cc_proto.envelope import EventData
from cc_routing.core.acd import Acd
from cc_routing.core.commands import BridgeCall, Command, PublishEvent
from cc_routing.core.config import AgentConfig, QueueConfig, Tier

T = TypeVar("T")
E = TypeVar("E", bound=EventData)


def of_type(commands: Iterable[object], kind: type[T]) -> list[T]:
    """Return the commands of one kind, in order."""
    return [command for command in commands if isinstance(command, kind)]


def events(commands: Iterable[Command], kind: type[E]) -> list[E]:
    """Return the published events of one kind, in order."""
    return [c.data for c in of_type(commands, PublishEvent) if isinstance(c.data, kind)]


def event_types(commands: Iterable[Command]) -> list[str]:
    """Return the type names of the published events, in order (e.g. 'call.answered')."""
    return [c.data.event_type for c in of_type(commands, PublishEvent)]


def agent(
    agent_id: str,
    *queues: str | tuple[str, Tier],
    skills: Mapping[str, int] | None = None,
    **options: object,
) -> AgentConfig:
    """Build an agent serving ``queues`` (a name, or (name, Tier)), reached at user/<id>."""
    tiers: dict[str, Tier] = {}
    for queue in queues:
        if isinstance(queue, tuple):
            tiers[queue[0]] = queue[1]
        else:
            tiers[queue] = Tier()
    return AgentConfig(
        agent_id,
        f"user/{agent_id}",
        dict(skills or {}),
        tiers,
        **options,  # type: ignore[arg-type]
    )


def build(
    queues: Sequence[QueueConfig],
    agents: Sequence[AgentConfig],
    *,
    now: float = 0.0,
    login: bool = True,
    acd: Acd | None = None,
) -> Acd:
    """Return an ACD with these queues and agents configured (and logged in, in order)."""
    core = acd if acd is not None else Acd()
    for queue in queues:
        core.configure_queue(queue, now)
    for config in agents:
        core.upsert_agent(config, now)
        if login:
            core.login(config.agent_id, now)
    return core


def answer(acd: Acd, offer_id: str, now: float) -> list[Command]:
    """The agent leg answers and, as FreeSWITCH does at once, the bridge it asks for holds."""
    out = acd.agent_answered(offer_id, now)
    for bridge in of_type(out, BridgeCall):
        if bridge.offer_id == offer_id:
            out += acd.call_bridged(bridge.call_id, now)
    return out
